using Microsoft.Extensions.Logging;

namespace RedisKit.DataStructures;

internal static partial class DataStructuresLog
{
    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning, Message = "Hash '{HashName}' holds a value that does not read back as {Type}; treated as a miss (the hash is left in place)")]
    public static partial void HashCorrupt(ILogger logger, string hashName, string type, Exception exception);
}

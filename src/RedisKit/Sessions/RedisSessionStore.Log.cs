using Microsoft.Extensions.Logging;

namespace RedisKit;

internal sealed partial class RedisSessionStore
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Debug, Message = "Session {SessionRef} created ({Evicted} evicted by the per-user cap)")]
    private static partial void LogCreated(ILogger logger, string sessionRef, long evicted);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "Rejected a malformed session id without calling Redis")]
    private static partial void LogMalformed(ILogger logger);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Session {SessionRef} had expired and was removed")]
    private static partial void LogExpired(ILogger logger, string sessionRef);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Session {SessionRef} rotated to {NewSessionRef}")]
    private static partial void LogRotated(ILogger logger, string sessionRef, string newSessionRef);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Destroyed {Count} sessions of a user (kept {KeptRef})")]
    private static partial void LogDestroyedAll(ILogger logger, int count, string keptRef);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Session store unavailable during {Operation}")]
    private static partial void LogUnavailable(ILogger logger, string operation, Exception exception);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Session {SessionRef} holds corrupt metadata and was treated as missing")]
    private static partial void LogCorrupt(ILogger logger, string sessionRef);
}

using Microsoft.Extensions.Logging;

namespace RedisKit;

internal sealed partial class LockEngine
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Warning, Message = "Distributed {Kind} '{Name}' was lost: {Reason}")]
    public static partial void LogLost(ILogger logger, string kind, string name, string reason);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Could not extend distributed {Kind} '{Name}'; it stays held until its expiry unless an extension succeeds")]
    public static partial void LogExtendFailed(ILogger logger, string kind, string name, Exception exception);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Could not release distributed {Kind} '{Name}'; it will expire by itself")]
    public static partial void LogReleaseFailed(ILogger logger, string kind, string name, Exception exception);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Could not subscribe to lock release notifications; waiters poll instead")]
    public static partial void LogSubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Debug, Message = "Redlock '{Name}' reached {Acquired} of {Servers} servers (quorum {Quorum}); validity left {ValidityMs} ms; released everywhere")]
    public static partial void LogRedlockFailed(ILogger logger, string name, int acquired, int servers, int quorum, double validityMs);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Debug, Message = "Redlock server {Server} failed")]
    public static partial void LogRedlockServerFailed(ILogger logger, string server, Exception exception);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "A HandleLostToken callback of distributed {Kind} '{Name}' threw")]
    public static partial void LogLostCallbackFailed(ILogger logger, string kind, string name, Exception exception);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Error, Message = "Recording the outcome of a lock release failed")]
    public static partial void LogObserverFailed(ILogger logger, Exception exception);
}

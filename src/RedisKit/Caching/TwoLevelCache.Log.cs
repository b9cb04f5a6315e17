using Microsoft.Extensions.Logging;

namespace RedisKit;

internal sealed partial class TwoLevelCache
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Cache read from Redis failed; treated as a miss")]
    private static partial void LogReadFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Cache write to Redis failed; the value is cached in L1 only")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "A cache entry could not be decoded as {Type} ({Length} bytes); removed and treated as a miss")]
    private static partial void LogCorruptEntry(ILogger logger, string type, int length, Exception exception);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Cache factory failed; serving the stale value (fail-safe)")]
    private static partial void LogFailSafe(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "A background cache factory failed")]
    private static partial void LogBackgroundFactoryFailed(ILogger logger, Exception? exception);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "A factory result of {Length} bytes exceeds MaxValueBytes ({MaxLength}); returned but not cached")]
    private static partial void LogValueTooLarge(ILogger logger, int length, int maxLength);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Debug, Message = "A factory result was dropped: the key was written or invalidated while the factory ran")]
    private static partial void LogStaleWriteRejected(ILogger logger);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Information, Message = "Waited {Milliseconds} ms for another instance's factory; running it here")]
    private static partial void LogLockWaitTimedOut(ILogger logger, double milliseconds);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Warning, Message = "Cache backplane subscription failed; it is established when Redis is back")]
    private static partial void LogBackplaneSubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Debug, Message = "Cache backplane publish failed")]
    private static partial void LogBackplanePublishFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Redis connection restored: L1 entries written before the outage are no longer served as fresh")]
    private static partial void LogL1Distrusted(ILogger logger);
}

using Microsoft.Extensions.Logging;

namespace RedisKit.RateLimiting;

internal sealed partial class RedisRateLimiter
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Redis is unavailable for rate limiting (policies {Policies}); each policy applies its failure mode. {Suppressed} similar failures since the last warning")]
    internal static partial void LogRedisUnavailable(ILogger logger, string policies, long suppressed, Exception exception);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Redis is serving rate limit checks again after {Failures} failed checks")]
    internal static partial void LogRedisRestored(ILogger logger, long failures);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Debug, Message = "Rate limit denied by policy {Policy}; retry after {RetryAfter}")]
    internal static partial void LogDenied(ILogger logger, string policy, TimeSpan? retryAfter);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "A concurrency lease of policies {Policies} was reclaimed while still held (its heartbeats did not arrive within the lease TTL)")]
    internal static partial void LogLeaseLost(ILogger logger, string policies);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "Heartbeat of a concurrency lease of policies {Policies} failed; the lease is reclaimed if no heartbeat succeeds within its TTL")]
    internal static partial void LogHeartbeatFailed(ILogger logger, string policies, Exception exception);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "Releasing a concurrency lease of policies {Policies} failed; it is reclaimed when its TTL passes")]
    internal static partial void LogReleaseFailed(ILogger logger, string policies, Exception exception);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Warning, Message = "The local fallback rate limiters reached {Count} partitions and were reset")]
    internal static partial void LogFallbackReset(ILogger logger, int count);
}

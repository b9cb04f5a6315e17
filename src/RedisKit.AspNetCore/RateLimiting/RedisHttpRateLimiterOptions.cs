using Microsoft.AspNetCore.Http;
using RedisKit.RateLimiting;

namespace RedisKit.AspNetCore.RateLimiting;

/// <summary>Settings shared by every Redis-backed HTTP limiter: how requests are partitioned and what to do when Redis is down.</summary>
public abstract class RedisHttpRateLimiterOptions
{
    /// <summary>
    /// The partition of a request (the part of the Redis key that the limit is counted under). Default: the client IP
    /// from the connection (<see cref="RedisRateLimitPartitions.ClientIp(string[])"/> with no trusted proxies, so
    /// <c>X-Forwarded-For</c> is ignored). See <see cref="RedisRateLimitPartitions"/> for user, API key and route.
    /// </summary>
    public Func<HttpContext, string> PartitionBy { get; set; } = RedisRateLimitPartitions.ClientIp();

    /// <summary>What happens when Redis is unreachable. Default <see cref="RateLimitFailureMode.FailOpen"/>.</summary>
    public RateLimitFailureMode FailureMode { get; set; } = RateLimitFailureMode.FailOpen;

    internal abstract RateLimitPolicy CreatePolicy(string name);
}

/// <summary>A Redis fixed window: <see cref="PermitLimit"/> requests per <see cref="Window"/>, the window starting at the first request.</summary>
public sealed class RedisFixedWindowLimiterOptions : RedisHttpRateLimiterOptions
{
    /// <summary>Requests per window (&gt; 0).</summary>
    public int PermitLimit { get; set; }

    /// <summary>The window (&gt; 0).</summary>
    public TimeSpan Window { get; set; }

    internal override RateLimitPolicy CreatePolicy(string name) => RateLimitPolicy.FixedWindow(name, PermitLimit, Window).WithFailureMode(FailureMode);
}

/// <summary>A Redis sliding window: <see cref="PermitLimit"/> requests in any <see cref="Window"/>.</summary>
public sealed class RedisSlidingWindowLimiterOptions : RedisHttpRateLimiterOptions
{
    /// <summary>Requests per window (&gt; 0).</summary>
    public int PermitLimit { get; set; }

    /// <summary>The window (&gt; 0).</summary>
    public TimeSpan Window { get; set; }

    /// <summary>
    /// <see langword="true"/> (default): the exact log (one sorted-set member per request, memory grows with the limit);
    /// <see langword="false"/>: the two-counter approximation (constant memory).
    /// </summary>
    public bool Exact { get; set; } = true;

    internal override RateLimitPolicy CreatePolicy(string name) => (Exact
        ? RateLimitPolicy.SlidingWindowLog(name, PermitLimit, Window)
        : RateLimitPolicy.SlidingWindowCounter(name, PermitLimit, Window)).WithFailureMode(FailureMode);
}

/// <summary>A Redis token bucket of <see cref="TokenLimit"/> tokens, refilled with <see cref="TokensPerPeriod"/> per <see cref="ReplenishmentPeriod"/>.</summary>
public sealed class RedisTokenBucketLimiterOptions : RedisHttpRateLimiterOptions
{
    /// <summary>Bucket size (&gt; 0).</summary>
    public int TokenLimit { get; set; }

    /// <summary>Tokens added per period (&gt; 0).</summary>
    public int TokensPerPeriod { get; set; }

    /// <summary>The replenishment period (&gt; 0); tokens are added continuously at this rate.</summary>
    public TimeSpan ReplenishmentPeriod { get; set; }

    internal override RateLimitPolicy CreatePolicy(string name)
    {
        if (TokensPerPeriod <= 0)
        {
            throw new Microsoft.Extensions.Options.OptionsValidationException(name, typeof(RedisTokenBucketLimiterOptions), [$"{name}: TokensPerPeriod must be greater than 0."]);
        }

        return RateLimitPolicy.TokenBucket(name, TokenLimit, TokensPerPeriod, ReplenishmentPeriod).WithFailureMode(FailureMode);
    }
}

/// <summary>A Redis GCRA limiter: <see cref="PermitLimit"/> per <see cref="Window"/> evenly spaced, bursts up to <see cref="Burst"/>.</summary>
public sealed class RedisGcraLimiterOptions : RedisHttpRateLimiterOptions
{
    /// <summary>Requests per window (&gt; 0).</summary>
    public int PermitLimit { get; set; }

    /// <summary>The window (&gt; 0).</summary>
    public TimeSpan Window { get; set; }

    /// <summary>Requests allowed back to back; 0 (default) means <see cref="PermitLimit"/>.</summary>
    public int Burst { get; set; }

    internal override RateLimitPolicy CreatePolicy(string name) => RateLimitPolicy.Gcra(name, PermitLimit, Window, Burst).WithFailureMode(FailureMode);
}

/// <summary>A Redis concurrency limiter: at most <see cref="PermitLimit"/> requests of a partition in flight across all instances.</summary>
public sealed class RedisConcurrencyLimiterOptions : RedisHttpRateLimiterOptions
{
    /// <summary>Requests in flight (&gt; 0).</summary>
    public int PermitLimit { get; set; }

    /// <summary>How long a request's lease survives without a heartbeat (an instance that died); default 30 s. A live request keeps its lease however long it runs.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    internal override RateLimitPolicy CreatePolicy(string name) => RateLimitPolicy.Concurrency(name, PermitLimit, LeaseTtl).WithFailureMode(FailureMode);
}

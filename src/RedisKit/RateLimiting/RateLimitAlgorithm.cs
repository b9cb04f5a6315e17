namespace RedisKit.RateLimiting;

/// <summary>How a <see cref="RateLimitPolicy"/> counts. Every algorithm runs in one Lua script on the Redis server's clock.</summary>
public enum RateLimitAlgorithm
{
    /// <summary>
    /// <see cref="RateLimitPolicy.PermitLimit"/> permits per <see cref="RateLimitPolicy.Window"/>; the window starts with
    /// the first permit and ends when the key expires (traffic never extends it). One string key.
    /// </summary>
    FixedWindow = 1,

    /// <summary>
    /// Exact sliding window: one sorted-set member per permit, scored by server time. Memory grows with
    /// <see cref="RateLimitPolicy.PermitLimit"/>; prefer <see cref="SlidingWindowCounter"/> for large limits.
    /// </summary>
    SlidingWindowLog = 2,

    /// <summary>
    /// Approximate sliding window: the current aligned window's count plus the previous window's count weighted by
    /// the part of it still inside the sliding window. One small hash per partition.
    /// </summary>
    SlidingWindowCounter = 3,

    /// <summary>
    /// Bucket of <see cref="RateLimitPolicy.PermitLimit"/> tokens, refilled continuously with
    /// <see cref="RateLimitPolicy.TokensPerPeriod"/> tokens per <see cref="RateLimitPolicy.Window"/>.
    /// </summary>
    TokenBucket = 4,

    /// <summary>
    /// Generic cell rate algorithm: <see cref="RateLimitPolicy.PermitLimit"/> per <see cref="RateLimitPolicy.Window"/>,
    /// evenly spaced, with bursts of up to <see cref="RateLimitPolicy.Burst"/>. One string key (the theoretical arrival time).
    /// </summary>
    Gcra = 5,

    /// <summary>
    /// At most <see cref="RateLimitPolicy.PermitLimit"/> leases held at once. A lease lives until disposed; its holder
    /// renews it with heartbeats, and a lease whose holder stops renewing (crashed) is reclaimed
    /// <see cref="RateLimitPolicy.LeaseTtl"/> after the last heartbeat. Only through <c>AcquireAsync</c>.
    /// </summary>
    Concurrency = 6,
}

/// <summary>What a policy decides when Redis cannot be reached (or does not answer within the command timeout).</summary>
public enum RateLimitFailureMode
{
    /// <summary>Allow the request (availability first). Logged and counted.</summary>
    FailOpen = 0,

    /// <summary>Deny the request (protection first), with a retry-after of one second. Logged and counted.</summary>
    FailClosed = 1,

    /// <summary>
    /// Apply the same limit with an in-memory limiter of this process (System.Threading.RateLimiting): each app
    /// instance then allows up to the full limit on its own until Redis is back. Logged and counted.
    /// </summary>
    LocalFallback = 2,
}

/// <summary>Where a <see cref="RateLimitDecision"/> came from.</summary>
public enum RateLimitDecisionSource
{
    /// <summary>The Redis script decided.</summary>
    Redis = 0,

    /// <summary>Redis failed and the failure modes decided (fail-open, fail-closed or local fallback).</summary>
    FailureMode = 1,
}

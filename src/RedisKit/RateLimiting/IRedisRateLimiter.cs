namespace RedisKit.RateLimiting;

/// <summary>
/// Redis-backed rate limiting for any code (HTTP or not). A check of one or several policies on one partition is one
/// Lua script in one round trip (EVALSHA), atomic and on the Redis server's clock: nothing is consumed unless every
/// policy allows. Keys are <c>{prefix}:ratelimit:{partition}:{policy}</c>; the partition is the hash tag, so the
/// policies of one partition share a cluster slot. Every key has a TTL. When Redis is unreachable each policy applies
/// its <see cref="RateLimitPolicy.FailureMode"/> (logged and counted); this never throws because Redis is down.
/// </summary>
public interface IRedisRateLimiter
{
    /// <summary>The configured policy called <paramref name="policyName"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such policy is configured.</exception>
    RateLimitPolicy GetPolicy(string policyName);

    /// <summary>
    /// Checks and consumes <paramref name="cost"/> permits of the configured policy <paramref name="policyName"/> for
    /// <paramref name="partition"/> (a user id, an IP, an API key hash…). One round trip. A cost of 0 reads the state
    /// without consuming. Concurrency policies need <see cref="AcquireAsync(string, IReadOnlyList{RateLimitPolicy}, long, CancellationToken)"/>.
    /// </summary>
    ValueTask<RateLimitDecision> CheckAsync(string partition, string policyName, long cost = 1, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks several policies (configured or ad hoc) of one partition atomically in one round trip: permits are
    /// consumed from every policy or from none.
    /// </summary>
    ValueTask<RateLimitDecision> CheckAsync(string partition, IReadOnlyList<RateLimitPolicy> policies, long cost = 1, CancellationToken cancellationToken = default);

    /// <summary>
    /// Like <see cref="CheckAsync(string, IReadOnlyList{RateLimitPolicy}, long, CancellationToken)"/> but also takes
    /// concurrency permits, which are held until the returned lease is disposed; while held, the lease renews them
    /// with a heartbeat (one round trip every third of <see cref="RateLimitPolicy.LeaseTtl"/>). Dispose the lease even
    /// when it was denied. One round trip to acquire, one to release.
    /// </summary>
    ValueTask<RedisRateLimitLease> AcquireAsync(string partition, IReadOnlyList<RateLimitPolicy> policies, long cost = 1, CancellationToken cancellationToken = default);

    /// <summary>Acquires from the configured policy <paramref name="policyName"/> (see the overload taking policies).</summary>
    ValueTask<RedisRateLimitLease> AcquireAsync(string partition, string policyName, long cost = 1, CancellationToken cancellationToken = default);
}

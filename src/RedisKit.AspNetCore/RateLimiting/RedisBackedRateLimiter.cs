using System.Threading.RateLimiting;
using RedisKit.RateLimiting;

namespace RedisKit.AspNetCore.RateLimiting;

/// <summary>
/// A <see cref="RateLimiter"/> for one partition whose permits are counted in Redis by <see cref="IRedisRateLimiter"/>:
/// <see cref="RateLimiter.AcquireAsync"/> runs the check (one round trip; concurrency permits are held until the lease
/// is disposed). <see cref="RateLimiter.AttemptAcquire"/> cannot wait for Redis, so it never grants: it returns a
/// lease with <c>IsAcquired == false</c> and does no I/O; ASP.NET Core's rate limiting middleware then calls
/// <c>AcquireAsync</c>, which decides. Code that calls <c>AttemptAcquire</c> directly must do the same.
/// </summary>
public sealed class RedisBackedRateLimiter : RateLimiter
{
    private readonly IRedisRateLimiter _limiter;
    private readonly string _partition;
    private readonly RateLimitPolicy[] _policies;
    private readonly TimeProvider _timeProvider;
    private long _lastUsed;
    private long _active;
    private long _successful;
    private long _failed;
    private long _available;

    /// <summary>Creates a limiter for <paramref name="partition"/> checking all of <paramref name="policies"/> atomically.</summary>
    public RedisBackedRateLimiter(IRedisRateLimiter limiter, string partition, IReadOnlyList<RateLimitPolicy> policies, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(policies);
        _limiter = limiter;
        _partition = partition;
        _policies = [.. policies];
        _timeProvider = timeProvider ?? TimeProvider.System;
        _lastUsed = _timeProvider.GetTimestamp();
        _available = _policies.Min(p => p.PermitLimit);
    }

    /// <summary>The partition this limiter counts.</summary>
    public string Partition => _partition;

    /// <summary>The policies checked together.</summary>
    public IReadOnlyList<RateLimitPolicy> Policies => _policies;

    /// <summary>
    /// Time since the last acquire, or <see langword="null"/> while concurrency leases are held, so the framework's
    /// partitioned limiter drops idle partitions (their state lives in Redis, nothing is lost).
    /// </summary>
    public override TimeSpan? IdleDuration => Interlocked.Read(ref _active) > 0 ? null : _timeProvider.GetElapsedTime(Interlocked.Read(ref _lastUsed));

    /// <summary>Counts seen by this instance; <see cref="RateLimiterStatistics.CurrentAvailablePermits"/> is the remaining count of the last decision.</summary>
    public override RateLimiterStatistics? GetStatistics() => new()
    {
        CurrentAvailablePermits = Interlocked.Read(ref _available),
        CurrentQueuedCount = 0,
        TotalSuccessfulLeases = Interlocked.Read(ref _successful),
        TotalFailedLeases = Interlocked.Read(ref _failed),
    };

    /// <summary>Never grants and does no I/O (see the class remarks); callers fall through to <c>AcquireAsync</c>.</summary>
    protected override RateLimitLease AttemptAcquireCore(int permitCount) => RedisLeaseAdapter.NotChecked;

    /// <summary>Runs the Redis check (one round trip) and returns a lease carrying the decision as metadata.</summary>
    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        var feature = RedisRateLimitHttpFeature.Current;
        Interlocked.Exchange(ref _lastUsed, _timeProvider.GetTimestamp());
        var lease = await _limiter.AcquireAsync(_partition, _policies, permitCount, cancellationToken).ConfigureAwait(false);
        feature?.Add(lease.Decision);
        Interlocked.Exchange(ref _available, lease.Decision.Remaining);
        if (lease.IsAcquired)
        {
            Interlocked.Increment(ref _successful);
            Interlocked.Increment(ref _active);
            return new RedisLeaseAdapter(lease, () => Interlocked.Decrement(ref _active));
        }

        Interlocked.Increment(ref _failed);
        await lease.DisposeAsync().ConfigureAwait(false);
        return new RedisLeaseAdapter(lease, null);
    }
}

/// <summary>Lease metadata names RedisKit adds besides <see cref="MetadataName.RetryAfter"/> and <see cref="MetadataName.ReasonPhrase"/>.</summary>
public static class RedisRateLimitMetadata
{
    /// <summary>The full <see cref="RateLimitDecision"/> (policy, limit, remaining, reset).</summary>
    public static MetadataName<RateLimitDecision> Decision { get; } = MetadataName.Create<RateLimitDecision>("REDISKIT_RATELIMIT_DECISION");
}

internal sealed class RedisLeaseAdapter : RateLimitLease
{
    public static readonly RateLimitLease NotChecked = new RedisLeaseAdapter(null, null);
    private static readonly string[] AllNames = [MetadataName.RetryAfter.Name, MetadataName.ReasonPhrase.Name, RedisRateLimitMetadata.Decision.Name];
    private readonly RedisRateLimitLease? _lease;
    private Action? _onDispose;

    public RedisLeaseAdapter(RedisRateLimitLease? lease, Action? onDispose)
    {
        _lease = lease;
        _onDispose = onDispose;
    }

    public override bool IsAcquired => _lease?.IsAcquired ?? false;

    public override IEnumerable<string> MetadataNames => _lease is null ? [MetadataName.ReasonPhrase.Name] : AllNames;

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = null;
        if (_lease is null)
        {
            if (metadataName == MetadataName.ReasonPhrase.Name)
            {
                metadata = "Redis-backed limiters decide only in AcquireAsync.";
                return true;
            }

            return false;
        }

        var decision = _lease.Decision;
        if (metadataName == MetadataName.RetryAfter.Name && decision.RetryAfter is { } retry)
        {
            metadata = retry;
            return true;
        }

        if (metadataName == MetadataName.ReasonPhrase.Name && !decision.IsAllowed)
        {
            metadata = $"Rate limit exceeded (policy '{decision.DeniedBy}').";
            return true;
        }

        if (metadataName == RedisRateLimitMetadata.Decision.Name)
        {
            metadata = decision;
            return true;
        }

        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Interlocked.Exchange(ref _onDispose, null)?.Invoke();
            _lease?.Dispose();
        }
    }
}

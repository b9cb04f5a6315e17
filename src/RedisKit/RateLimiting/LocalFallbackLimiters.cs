using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.RateLimiting;

namespace RedisKit.RateLimiting;

/// <summary>
/// In-process limiters (System.Threading.RateLimiting) used by <see cref="RateLimitFailureMode.LocalFallback"/> while
/// Redis is down: one per (policy, partition), bounded in number. Each app instance counts on its own, so N instances
/// may allow up to N times the limit during an outage. GCRA falls back to a token bucket of the same rate and burst.
/// </summary>
internal sealed class LocalFallbackLimiters : IDisposable
{
    private readonly ConcurrentDictionary<string, RateLimiter> _limiters = new(StringComparer.Ordinal);
    private readonly int _maxPartitions;
    private readonly Action<int> _onReset;

    public LocalFallbackLimiters(int maxPartitions, Action<int> onReset)
    {
        _maxPartitions = maxPartitions;
        _onReset = onReset;
    }

    public int Count => _limiters.Count;

    public RateLimitLease Acquire(RateLimitPolicy policy, string partition, long cost)
    {
        var permits = (int)Math.Min(cost, int.MaxValue);
        var key = string.Create(CultureInfo.InvariantCulture, $"{policy.Name}|{(int)policy.Algorithm}|{policy.PermitLimit}|{policy.Window.Ticks}|{policy.TokensPerPeriod}|{policy.Burst}|{partition}");
        if (!_limiters.TryGetValue(key, out var limiter))
        {
            if (_limiters.Count >= _maxPartitions)
            {
                Reset();
            }

            limiter = _limiters.GetOrAdd(key, _ => Create(policy));
        }

        if (permits > policy.PermitLimit)
        {
            return DeniedLease.Instance; // can never fit; the limiters would throw
        }

        return limiter.AttemptAcquire(permits);
    }

    private static RateLimiter Create(RateLimitPolicy policy)
    {
        var window = policy.Window <= TimeSpan.Zero ? TimeSpan.FromMilliseconds(1) : policy.Window;
        return policy.Algorithm switch
        {
            RateLimitAlgorithm.FixedWindow => new FixedWindowRateLimiter(new FixedWindowRateLimiterOptions
            {
                PermitLimit = policy.PermitLimit, Window = window, QueueLimit = 0, AutoReplenishment = true,
            }),
            RateLimitAlgorithm.SlidingWindowLog or RateLimitAlgorithm.SlidingWindowCounter => new SlidingWindowRateLimiter(new SlidingWindowRateLimiterOptions
            {
                PermitLimit = policy.PermitLimit, Window = window, SegmentsPerWindow = 10, QueueLimit = 0, AutoReplenishment = true,
            }),
            RateLimitAlgorithm.TokenBucket => new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = policy.PermitLimit,
                TokensPerPeriod = policy.TokensPerPeriod > 0 ? policy.TokensPerPeriod : policy.PermitLimit,
                ReplenishmentPeriod = window,
                QueueLimit = 0,
                AutoReplenishment = true,
            }),
            RateLimitAlgorithm.Gcra => new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = policy.Burst > 0 ? policy.Burst : policy.PermitLimit,
                TokensPerPeriod = 1,
                ReplenishmentPeriod = TimeSpan.FromTicks(Math.Max(1, window.Ticks / policy.PermitLimit)),
                QueueLimit = 0,
                AutoReplenishment = true,
            }),
            _ => new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = policy.PermitLimit, QueueLimit = 0 }),
        };
    }

    private void Reset()
    {
        var count = _limiters.Count;
        foreach (var key in _limiters.Keys)
        {
            if (_limiters.TryRemove(key, out var limiter))
            {
                limiter.Dispose();
            }
        }

        _onReset(count);
    }

    public void Dispose()
    {
        foreach (var limiter in _limiters.Values)
        {
            limiter.Dispose();
        }

        _limiters.Clear();
    }

    private sealed class DeniedLease : RateLimitLease
    {
        public static readonly DeniedLease Instance = new();

        public override bool IsAcquired => false;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}

using StackExchange.Redis;

namespace RedisKit.RateLimiting;

/// <summary>
/// The result of <see cref="IRedisRateLimiter.AcquireAsync(string, IReadOnlyList{RateLimitPolicy}, long, CancellationToken)"/>.
/// When it holds concurrency permits, a heartbeat (one round trip every third of the shortest lease TTL) keeps them
/// alive for as long as the lease is held, and disposing frees them (one round trip). If the heartbeats stop reaching
/// Redis for a whole lease TTL the permits are reclaimed for others and <see cref="LeaseLostToken"/> is cancelled at the
/// next heartbeat that gets through. Dispose it in every case.
/// </summary>
public sealed class RedisRateLimitLease : IAsyncDisposable, IDisposable
{
    private readonly RedisRateLimiter? _owner;
    private readonly RedisKey[] _keys = [];
    private readonly RedisValue[] _heartbeatValues = [];
    private readonly string _leaseId = "";
    private readonly long _cost;
    private readonly string _policies = "";
    private readonly List<System.Threading.RateLimiting.RateLimitLease>? _localLeases;
    private readonly CancellationTokenSource? _lost;
    private readonly ITimer? _timer;
    private int _beating;
    private int _disposed;

    internal RedisRateLimitLease(RateLimitDecision decision, List<System.Threading.RateLimiting.RateLimitLease>? localLeases = null)
    {
        Decision = decision;
        _localLeases = localLeases;
    }

    internal RedisRateLimitLease(RateLimitDecision decision, RedisRateLimiter owner, RedisKey[] keys, long[] ttls, string leaseId, long cost, string policies)
    {
        Decision = decision;
        _owner = owner;
        _keys = keys;
        _leaseId = leaseId;
        _cost = cost;
        _policies = policies;
        _heartbeatValues = new RedisValue[2 + ttls.Length];
        _heartbeatValues[0] = leaseId;
        _heartbeatValues[1] = cost;
        for (var i = 0; i < ttls.Length; i++)
        {
            _heartbeatValues[2 + i] = ttls[i];
        }

        _lost = new CancellationTokenSource();
        var interval = TimeSpan.FromMilliseconds(Math.Max(10, ttls.Min() / 3));
        owner.Metrics.LeaseActive(1);
        _timer = owner.TimeProvider.CreateTimer(static state => ((RedisRateLimitLease)state!).Beat(), this, interval, interval);
    }

    /// <summary>The decision (allowed or denied, and the numbers for headers).</summary>
    public RateLimitDecision Decision { get; }

    /// <summary>Whether the permits were granted.</summary>
    public bool IsAcquired => Decision.IsAllowed;

    /// <summary>
    /// Cancelled when a heartbeat finds the concurrency permits were reclaimed (the heartbeats had not reached Redis
    /// for a whole lease TTL). <see cref="CancellationToken.None"/> when the lease holds no Redis concurrency permits.
    /// </summary>
    public CancellationToken LeaseLostToken => _lost?.Token ?? CancellationToken.None;

    /// <summary>Stops the heartbeat without releasing: what a crashed holder looks like (tests only).</summary>
    internal void StopHeartbeatAsIfCrashed()
    {
        _timer?.Dispose();
        Interlocked.Exchange(ref _disposed, 1);
    }

    /// <summary>Runs one heartbeat now (tests).</summary>
    internal Task HeartbeatNowAsync() => BeatAsync();

    private void Beat() => _ = BeatAsync();

    private async Task BeatAsync()
    {
        if (_owner is null || Volatile.Read(ref _disposed) == 1 || Interlocked.Exchange(ref _beating, 1) == 1)
        {
            return;
        }

        try
        {
            var database = await _owner.GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false);
            var held = (long)await RedisRateLimiter.HeartbeatScript.EvaluateAsync(database, _keys, _heartbeatValues).ConfigureAwait(false);
            if (held < _keys.Length && Volatile.Read(ref _disposed) == 0)
            {
                RedisRateLimiter.LogLeaseLost(_owner.Logger, _policies);
                _owner.Metrics.LeaseLost();
                _timer?.Dispose();
                try
                {
                    await _lost!.CancelAsync().ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            RedisRateLimiter.LogHeartbeatFailed(_owner.Logger, _policies, ex);
        }
        finally
        {
            Volatile.Write(ref _beating, 0);
        }
    }

    /// <summary>Frees the concurrency permits (one round trip; a failure is logged and the permits expire with their TTL).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (_localLeases is not null)
        {
            foreach (var lease in _localLeases)
            {
                lease.Dispose();
            }
        }

        if (_owner is null)
        {
            return;
        }

        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        _owner.Metrics.LeaseActive(-1);
        try
        {
            var database = await _owner.GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false);
            await RedisRateLimiter.ReleaseScript.EvaluateAsync(database, _keys, [_leaseId, _cost]).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            RedisRateLimiter.LogReleaseFailed(_owner.Logger, _policies, ex);
        }
        finally
        {
            _lost?.Dispose();
        }
    }

    /// <summary>Frees the permits without waiting for Redis (the release runs in the background).</summary>
    public void Dispose() => _ = DisposeAsync().AsTask();
}

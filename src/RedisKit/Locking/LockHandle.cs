using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// A held lock: local validity bookkeeping, optional auto-extension on a timer, the lazily created
/// <see cref="HandleLostToken"/>, and release on dispose. Subclasses supply the owner-checked scripts.
/// </summary>
internal abstract class LockHandle : IRedisLockHandle
{
    private const int Held = 0;
    private const int Released = 1;
    private const int Lost = 2;

    private readonly LockPrimitive _primitive;
    private readonly long _acquiredAt;
    private readonly long _maxHoldUntil;
    private long _validUntil;
    private TimeSpan _expiry;
    private CancellationTokenSource? _lost;
    private ITimer? _timer;
    private int _state;
    private int _extending;

    protected LockHandle(LockPrimitive primitive, RedisValue token, long fencingToken, long attemptStart)
    {
        _primitive = primitive;
        Token = token;
        FencingToken = fencingToken;
        _acquiredAt = attemptStart;
        _expiry = primitive.Timing.Expiry;
        _validUntil = attemptStart + ToTimestamp(_expiry - primitive.ValidityMargin);
        _maxHoldUntil = primitive.Timing.MaxHoldTime is { } max ? attemptStart + ToTimestamp(max) : long.MaxValue;
        if (primitive.Timing.AutoExtend)
        {
            var interval = primitive.Timing.ExtensionInterval;
            _timer = Time.CreateTimer(static s => ((LockHandle)s!).OnExtensionTimer(), this, interval, interval);
        }
    }

    protected RedisValue Token { get; }

    protected LockPrimitive Primitive => _primitive;

    private TimeProvider Time => _primitive.Engine.Time;

    public string Name => _primitive.Name;

    public long FencingToken { get; }

    public CancellationToken HandleLostToken
    {
        get
        {
            var cts = Volatile.Read(ref _lost);
            if (cts is not null)
            {
                return cts.Token;
            }

            var created = new CancellationTokenSource(Timeout.InfiniteTimeSpan, Time);
            cts = Interlocked.CompareExchange(ref _lost, created, null);
            if (cts is not null)
            {
                created.Dispose();
                return cts.Token;
            }

            created.Token.UnsafeRegister(static s => ((LockHandle)s!).OnExpiredLocally(), this);
            if (Volatile.Read(ref _state) == Lost)
            {
                CancelLost();
            }
            else
            {
                ArmExpiry(created);
            }

            return created.Token;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> ExtendAsync(TimeSpan? expiry = null, CancellationToken cancellationToken = default)
    {
        var newExpiry = expiry ?? _primitive.Timing.Expiry;
        ArgumentOutOfRangeException.ThrowIfLessThan(newExpiry, TimeSpan.FromMilliseconds(10), nameof(expiry));
        cancellationToken.ThrowIfCancellationRequested();
        var state = Volatile.Read(ref _state);
        if (state == Released)
        {
            throw new ObjectDisposedException(GetType().Name, $"The handle of distributed {_primitive.Kind} '{Name}' was released.");
        }

        if (state == Lost)
        {
            return false;
        }

        return await ExtendOnceAsync(newExpiry).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask DisposeAsync()
    {
        var previous = Interlocked.Exchange(ref _state, Released);
        if (previous == Released)
        {
            return;
        }

        Interlocked.Exchange(ref _timer, null)?.Dispose();
        try
        {
            if (previous == Held)
            {
                await ReleaseCoreAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LockEngine.LogReleaseFailed(_primitive.Engine.Logger, _primitive.Kind, Name, ex);
        }
        finally
        {
            _primitive.Engine.Metrics.Held(_primitive.Kind, Time.GetElapsedTime(_acquiredAt));
            if (Interlocked.Exchange(ref _lost, null) is { } cts)
            {
                cts.Dispose();
            }
        }
    }

    /// <summary>The owner-checked extension: true if still owned (and now extended), false if lost.</summary>
    protected abstract ValueTask<bool> ExtendCoreAsync(long expiryMilliseconds);

    /// <summary>The owner-checked release.</summary>
    protected abstract ValueTask ReleaseCoreAsync();

    private async Task<bool> ExtendOnceAsync(TimeSpan expiry)
    {
        var start = Time.GetTimestamp();
        bool extended;
        try
        {
            extended = await ExtendCoreAsync((long)expiry.TotalMilliseconds).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _primitive.Engine.Metrics.Extended(_primitive.Kind, "error");
            throw;
        }

        if (!extended)
        {
            _primitive.Engine.Metrics.Extended(_primitive.Kind, "lost");
            MarkLost("an extension found the lock expired or owned by someone else");
            return false;
        }

        _primitive.Engine.Metrics.Extended(_primitive.Kind, "extended");
        _expiry = expiry;
        Volatile.Write(ref _validUntil, start + ToTimestamp(expiry - _primitive.ValidityMargin));
        if (Volatile.Read(ref _lost) is { } cts)
        {
            ArmExpiry(cts);
        }

        return true;
    }

    private void OnExtensionTimer()
    {
        if (Volatile.Read(ref _state) != Held || Interlocked.Exchange(ref _extending, 1) == 1)
        {
            return;
        }

        _ = ExtendInBackgroundAsync();
    }

    private async Task ExtendInBackgroundAsync()
    {
        try
        {
            var now = Time.GetTimestamp();
            if (now >= _maxHoldUntil)
            {
                // Stop extending; the lock now lives out its expiry and HandleLostToken fires when it ends.
                Interlocked.Exchange(ref _timer, null)?.Dispose();
                return;
            }

            await ExtendOnceAsync(_expiry).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Still ours until the validity passes; the armed expiry fires HandleLostToken if no extension succeeds by then.
            LockEngine.LogExtendFailed(_primitive.Engine.Logger, _primitive.Kind, Name, ex);
            if (Time.GetTimestamp() >= Volatile.Read(ref _validUntil))
            {
                MarkLost("the expiry passed without a successful extension");
            }
        }
        finally
        {
            Volatile.Write(ref _extending, 0);
        }
    }

    private void ArmExpiry(CancellationTokenSource cts)
    {
        var remaining = Volatile.Read(ref _validUntil) - Time.GetTimestamp();
        try
        {
            if (remaining <= 0)
            {
                cts.Cancel();
            }
            else
            {
                cts.CancelAfter(Time.GetElapsedTime(0, remaining));
            }
        }
        catch (ObjectDisposedException)
        {
            // Released meanwhile.
        }
        catch (AggregateException ex)
        {
            LockEngine.LogLostCallbackFailed(_primitive.Engine.Logger, _primitive.Kind, Name, ex);
        }
    }

    private void OnExpiredLocally()
    {
        // The validity ran out with no successful extension: the lock may now belong to someone else.
        if (Interlocked.CompareExchange(ref _state, Lost, Held) == Held)
        {
            Interlocked.Exchange(ref _timer, null)?.Dispose();
            _primitive.Engine.Metrics.LockLost(_primitive.Kind);
            LockEngine.LogLost(_primitive.Engine.Logger, _primitive.Kind, Name, "its expiry passed without a successful extension");
        }
    }

    private void MarkLost(string reason)
    {
        if (Interlocked.CompareExchange(ref _state, Lost, Held) != Held)
        {
            return;
        }

        Interlocked.Exchange(ref _timer, null)?.Dispose();
        _primitive.Engine.Metrics.LockLost(_primitive.Kind);
        LockEngine.LogLost(_primitive.Engine.Logger, _primitive.Kind, Name, reason);
        CancelLost();
    }

    private void CancelLost()
    {
        try
        {
            Volatile.Read(ref _lost)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Released meanwhile.
        }
        catch (AggregateException ex)
        {
            LockEngine.LogLostCallbackFailed(_primitive.Engine.Logger, _primitive.Kind, Name, ex);
        }
    }

    private long ToTimestamp(TimeSpan span) => (long)(span.TotalSeconds * Time.TimestampFrequency);
}

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
    private long _validUntil;
    private int _expiryMilliseconds;
    private CancellationTokenSource? _lost;

    // Auto-extension schedule, owned by the engine's single extension timer (guarded by the engine's schedule lock).
    internal LockHandle? NextScheduled;
    internal LockHandle? PreviousScheduled;
    internal long ScheduledDueAt;
    private int _state;
    private int _extending;

    protected LockHandle(LockPrimitive primitive, RedisValue[] arguments, long fencingToken, long attemptStart)
    {
        _primitive = primitive;
        Arguments = arguments;
        FencingToken = fencingToken;
        _acquiredAt = attemptStart;
        _expiryMilliseconds = (int)primitive.Timing.ExpiryMilliseconds;
        _validUntil = attemptStart + ToTimestamp(primitive.Timing.Expiry - primitive.ValidityMargin);
        if (primitive.Timing.AutoExtend)
        {
            primitive.Engine.ScheduleExtension(this, attemptStart + ExtensionIntervalTicks);
        }
    }

    /// <summary>The attempt's script arguments: [0] is the owner token, [1] the expiry in ms (see <see cref="LockPrimitive.NewArguments"/>).</summary>
    protected RedisValue[] Arguments { get; }

    protected RedisValue Token => Arguments[0];

    /// <summary>The auto-extension period in <see cref="TimeProvider"/> timestamp ticks (0 when auto-extension is off).</summary>
    internal long ExtensionIntervalTicks => _primitive.Timing.AutoExtend ? ToTimestamp(_primitive.Timing.ExtensionInterval) : 0;

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
        ArgumentOutOfRangeException.ThrowIfGreaterThan(newExpiry, TimeSpan.FromMilliseconds(int.MaxValue), nameof(expiry));
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

    /// <summary>
    /// Stops auto-extension, then writes the owner-checked release. Unless <see cref="LockingOptions.AwaitRelease"/>
    /// is set, returns without waiting for the reply (completes synchronously); the reply is observed in the
    /// background and tracked by the engine until it arrives, so the provider's disposal can wait for it.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        var previous = Interlocked.Exchange(ref _state, Released);
        if (previous == Released)
        {
            return default;
        }

        // No extension may be started from now on; one already written is harmless (owner-checked, never re-creates).
        var engine = _primitive.Engine;
        engine.Unschedule(this);
        engine.Metrics.Held(_primitive.Kind, Time.GetElapsedTime(_acquiredAt));
        if (Interlocked.Exchange(ref _lost, null) is { } cts)
        {
            cts.Dispose();
        }

        if (previous != Held)
        {
            return default;
        }

        engine.ReleaseStarted();
        Task reply;
        try
        {
            reply = ReleaseCoreAsync();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // A client that refuses the command (down, disposed) is a failed release: logged, counted, expires by itself.
            reply = Task.FromException(ex);
        }
        catch
        {
            // Anything else is a bug; do not leave the release counted as in flight (a flush would wait for ever).
            engine.ReleaseEnded();
            throw;
        }

        if (engine.Options.AwaitRelease)
        {
            return AwaitReleaseAsync(reply);
        }

        engine.ObserveRelease(this, reply);
        return default;
    }

    /// <summary>
    /// Records the outcome of a release reply (called once the task completed): a NOSCRIPT is retried (the script
    /// is sent again), a failure is logged and counted; the release then stops being in flight.
    /// </summary>
    internal void OnReleaseReply(Task reply)
    {
        if (RetryAfterNoScript(reply) is { } retry)
        {
            _primitive.Engine.ObserveRelease(this, retry);
            return;
        }

        RecordRelease(reply);
    }

    /// <summary>Writes the owner-checked release and returns its reply without awaiting it.</summary>
    protected abstract Task ReleaseCoreAsync();

    /// <summary>Called when the release reply was NOSCRIPT: sends the release again with its source (EVAL); null when the release cannot fail that way.</summary>
    protected virtual Task? RetryReleaseWithSource() => null;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitReleaseAsync(Task reply)
    {
        await reply.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (RetryAfterNoScript(reply) is { } retry)
        {
            await retry.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            reply = retry;
        }

        RecordRelease(reply);
    }

    private Task? RetryAfterNoScript(Task reply)
    {
        if (reply.Exception?.InnerException is RedisServerException noScript && LockScript.IsNoScript(noScript))
        {
            try
            {
                return RetryReleaseWithSource();
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                return Task.FromException(ex);
            }
        }

        return null;
    }

    private void RecordRelease(Task reply)
    {
        var engine = _primitive.Engine;
        try
        {
            if (reply.IsCompletedSuccessfully)
            {
                var answer = reply is Task<RedisResult> result ? (long)result.Result : 1;
                engine.Metrics.Released(_primitive.Kind, answer != 0 ? "released" : "not_owned");
                _primitive.Released(answer);
            }
            else
            {
                engine.Metrics.Released(_primitive.Kind, "error");
                var error = reply.Exception?.InnerException ?? new TaskCanceledException(reply);
                LockEngine.LogReleaseFailed(engine.Logger, _primitive.Kind, Name, error);
            }
        }
        finally
        {
            engine.ReleaseEnded();
        }
    }

    /// <summary>The owner-checked extension: true if still owned (and now extended), false if lost.</summary>
    protected abstract ValueTask<bool> ExtendCoreAsync(long expiryMilliseconds);

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
        _expiryMilliseconds = (int)expiry.TotalMilliseconds;
        Volatile.Write(ref _validUntil, start + ToTimestamp(expiry - _primitive.ValidityMargin));
        if (Volatile.Read(ref _lost) is { } cts)
        {
            ArmExpiry(cts);
        }

        return true;
    }

    /// <summary>Called by the engine's extension timer when this handle is due (the engine has already rescheduled it).</summary>
    internal void OnExtensionTimer()
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
            if (_primitive.Timing.MaxHoldTime is { } max && now >= _acquiredAt + ToTimestamp(max))
            {
                // Stop extending; the lock now lives out its expiry and HandleLostToken fires when it ends.
                _primitive.Engine.Unschedule(this);
                return;
            }

            await ExtendOnceAsync(TimeSpan.FromMilliseconds(_expiryMilliseconds)).ConfigureAwait(false);
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
            _primitive.Engine.Unschedule(this);
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

        _primitive.Engine.Unschedule(this);
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

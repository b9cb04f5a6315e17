using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// One named lock-like thing (exclusive lock, read or write side, semaphore, Redlock): a single atomic
/// attempt plus the shared acquire/wait logic.
/// </summary>
internal abstract class LockPrimitive
{
    protected LockPrimitive(LockEngine engine, string name, string kind, LockTiming timing)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Engine = engine;
        Name = name;
        Kind = kind;
        Timing = timing;
    }

    public LockEngine Engine { get; }

    /// <summary>Attempts of this object's callers that are in flight (counted only by primitives that wake one waiter).</summary>
    private int _attempting;

    public string Name { get; }

    /// <summary>The <c>lock.kind</c> metric tag.</summary>
    public string Kind { get; }

    public LockTiming Timing { get; }

    /// <summary>How much less than the expiry the holder may count on (Redlock's clock-drift allowance); zero for one server.</summary>
    public virtual TimeSpan ValidityMargin => TimeSpan.Zero;

    /// <summary>What a release publishes and waiters wait on.</summary>
    public abstract string SignalKey { get; }

    /// <summary>
    /// Whether a release can admit only one waiter (an exclusive lock): then a release wakes one queued waiter of this
    /// process, not all of them, and a caller that arrives while callers of this process queue for the name, or while
    /// another caller of the same lock object attempts it, queues behind them without an attempt.
    /// </summary>
    public virtual bool WakesOneWaiter => false;

    /// <summary>
    /// The script arguments of one acquisition, built once and reused by every retry, and by the handle for its
    /// release and extensions: [0] the owner token, [1] the expiry in ms, then what the primitive needs.
    /// </summary>
    public virtual RedisValue[] NewArguments(RedisValue token) => [token, Timing.ExpiryMilliseconds];

    /// <summary>One atomic attempt: &gt;= 0 on success (the fencing token, or 0), else -1 - (ms the holder still has, or 0 if unknown).</summary>
    public abstract ValueTask<long> TryOnceAsync(RedisValue[] arguments, CancellationToken cancellationToken);

    /// <summary>
    /// Starts one attempt and returns the client's task when that can be done synchronously (the result is the
    /// script's integer, as from <see cref="TryOnceAsync"/>); null to use <see cref="TryOnceAsync"/>. A NOSCRIPT
    /// failure of the returned task is retried with <see cref="TryOnceAsync"/>.
    /// </summary>
    internal virtual Task<RedisResult>? StartAttempt(RedisValue[] arguments) => null;

    /// <summary>Called with the script's answer to a release of one of this primitive's handles (0 = not the owner).</summary>
    internal virtual void Released(long result)
    {
    }

    /// <summary>Builds the handle of a successful attempt that started at <paramref name="attemptStart"/> (the validity is counted from then).</summary>
    protected abstract LockHandle CreateHandle(RedisValue[] arguments, long result, long attemptStart);

    public ValueTask<IRedisLockHandle?> TryAcquireCoreAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        AcquireOrTimeOutAsync(timeout, throwOnTimeout: false, cancellationToken);

    public ValueTask<IRedisLockHandle> AcquireCoreAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        AcquireOrTimeOutAsync(timeout ?? Timeout.InfiniteTimeSpan, throwOnTimeout: true, cancellationToken)!;

    public IRedisLockHandle Acquired(RedisValue[] arguments, long result, long attemptStart, long callStart)
    {
        // The handle first: if building it threw, the call is counted once, as an error, not also as acquired.
        var handle = CreateHandle(arguments, result, attemptStart);
        Engine.Metrics.Acquired(Kind, "acquired", Engine.Time.GetElapsedTime(callStart));
        return handle;
    }

    public void TimedOut(long callStart) => Engine.Metrics.Acquired(Kind, "timeout", Engine.Time.GetElapsedTime(callStart));

    /// <summary>
    /// Both acquire flavours, the first attempt and every waiting round in one pooled state machine. A null result from
    /// <c>AcquireCoreAsync</c> is impossible: it throws instead.
    /// </summary>
    /// <remarks>
    /// Waiting (after a failed first attempt, or at once behind others; see below): each round registers for a release's
    /// wake first (see <see cref="LockEngine.BeginRound"/>), then tries, then sleeps a jittered delay (capped by the
    /// holder's remaining time and the timeout) unless a wake comes first. Registering before the attempt means a release
    /// between a failed attempt and the sleep is not missed; that is why a failed unregistered first attempt is followed
    /// by a registered one at once. A caller that queues behind others sleeps its first round without an attempt, unless it
    /// is first in its queue and nothing of this lock object is attempting.
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IRedisLockHandle?> AcquireOrTimeOutAsync(TimeSpan timeout, bool throwOnTimeout, CancellationToken cancellationToken)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), "The timeout must be zero or more, or Timeout.InfiniteTimeSpan.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var engine = Engine;
        var arguments = NewArguments(NewToken());
        var start = engine.Time.GetTimestamp();
        var infinite = timeout == Timeout.InfiniteTimeSpan;
        IRedisLockHandle? handle = null;
        try
        {
            // Callers of this process already queue for this lock (it is held), or another caller of this lock object
            // is attempting it right now (a burst of callers on a free lock): queue behind them and sleep without an
            // attempt that would most likely fail. The release that frees it wakes them in turn; an attempt that fails
            // instead sets the waiting mark, so the holder's release (in any process) wakes this process's first waiter.
            var wakesOne = WakesOneWaiter;
            var skipAttempt = timeout != TimeSpan.Zero && wakesOne && (Volatile.Read(ref _attempting) > 0 || engine.HasQueuedWaiters(SignalKey));
            var waiting = skipAttempt;
            var unusedWake = false; // the last round was woken by a release and no attempt has used that wake yet
            bool? notified = null;
            var lastResult = 0L;
            while (true)
            {
                var round = default(LockEngine.WaitRound);
                var passOnWake = true; // unless this round acquires or ends in another round
                var handOff = false; // this round's unregistered attempt was the last of this object's attempts in flight
                try
                {
                    if (waiting)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        notified ??= await engine.EnsureNotifiedAsync(cancellationToken).ConfigureAwait(false);
                        round = engine.BeginRound(this, notified.Value);
                    }

                    // Sleep first only when something will wake this round: it is queued, and either someone of this
                    // process waits ahead of it or an attempt is in flight. Otherwise a release may have come and gone
                    // between the check above and the queueing (it found nobody to wake), and the lock may be free.
                    if (skipAttempt && (round.Place is null || (Volatile.Read(ref _attempting) == 0 && LockEngine.IsFirst(round))))
                    {
                        skipAttempt = false;
                    }

                    TimeSpan elapsed;
                    if (skipAttempt)
                    {
                        // Nothing tried yet: even past the timeout, the next round makes one attempt before giving up.
                        skipAttempt = false;
                        elapsed = engine.Time.GetElapsedTime(start);
                        if (!infinite && elapsed > timeout)
                        {
                            elapsed = timeout;
                        }
                    }
                    else
                    {
                        var attemptStart = engine.Time.GetTimestamp();
                        long result;
                        if (wakesOne)
                        {
                            Interlocked.Increment(ref _attempting);
                        }

                        try
                        {
                            // The client's task awaited here when the primitive can start it synchronously: no state
                            // machine of the primitive's own per attempt.
                            if (StartAttempt(arguments) is { } attempt)
                            {
                                try
                                {
                                    result = (long)await attempt.ConfigureAwait(false);
                                }
                                catch (RedisServerException ex) when (LockScript.IsNoScript(ex))
                                {
                                    result = await TryOnceAsync(arguments, cancellationToken).ConfigureAwait(false);
                                }
                            }
                            else
                            {
                                result = await TryOnceAsync(arguments, cancellationToken).ConfigureAwait(false);
                            }
                        }
                        finally
                        {
                            // The last unregistered attempt of this object to end: callers that queued behind it without an
                            // attempt count on it (see handOff below).
                            if (wakesOne && Interlocked.Decrement(ref _attempting) == 0 && !waiting)
                            {
                                handOff = true;
                            }
                        }

                        unusedWake = false;
                        if (result >= 0)
                        {
                            // Holding the lock now: a wake this round received is used up (this handle's release wakes the next).
                            passOnWake = false;
                            handle = Acquired(arguments, result, attemptStart, start);
                            break;
                        }

                        lastResult = result;
                        elapsed = engine.Time.GetElapsedTime(start);
                        if (!infinite && elapsed >= timeout)
                        {
                            TimedOut(start);
                            break;
                        }

                        if (!waiting)
                        {
                            // Register for the wake and try again at once (see remarks).
                            waiting = true;
                            passOnWake = false;
                            continue;
                        }
                    }

                    var delay = engine.NextDelay(-1 - lastResult, infinite ? Timeout.InfiniteTimeSpan : timeout - elapsed);
                    await engine.SleepAsync(round, delay, cancellationToken).ConfigureAwait(false);
                    passOnWake = false;
                }
                finally
                {
                    var woken = engine.EndRound(round);
                    if (!passOnWake)
                    {
                        unusedWake = woken;
                    }
                    else if (woken || unusedWake || handOff)
                    {
                        // Leaving without the lock: a wake this caller received and did not use goes to the next waiter;
                        // so does the turn of callers that queued behind this caller's unregistered attempt (a release they
                        // missed before they queued would otherwise wait for their retry delay).
                        engine.WakeOne(SignalKey);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            engine.Metrics.Acquired(Kind, "error", engine.Time.GetElapsedTime(start));
            throw;
        }

        return handle ?? (throwOnTimeout
            ? throw new TimeoutException($"Timed out after {timeout} waiting for distributed {Kind} '{Name}'.")
            : null);
    }

    /// <summary>
    /// A unique owner token: a random 64-bit base per process plus a counter, so tokens never repeat within a
    /// process and collide across processes with probability 2^-64. A number, so it costs no allocation
    /// (Redis stores and compares its decimal text).
    /// </summary>
    private static RedisValue NewToken() => unchecked(TokenBase + Interlocked.Increment(ref _tokenCounter));

    private static readonly long TokenBase = Random.Shared.NextInt64(long.MinValue, long.MaxValue);
    private static long _tokenCounter;
}

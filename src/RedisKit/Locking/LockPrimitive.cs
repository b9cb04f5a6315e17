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

    /// <summary>First attempts of this object's callers that are in flight (used by primitives that wake one waiter).</summary>
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
    /// Whether a release can admit only one waiter (an exclusive lock): then a release notification wakes one queued
    /// waiter of this process, not all of them.
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
        Engine.Metrics.Acquired(Kind, "acquired", Engine.Time.GetElapsedTime(callStart));
        return CreateHandle(arguments, result, attemptStart);
    }

    public void TimedOut(long callStart) => Engine.Metrics.Acquired(Kind, "timeout", Engine.Time.GetElapsedTime(callStart));

    /// <summary>
    /// One async method for both acquire flavours (one pooled state machine, no nesting on the uncontended path).
    /// A null result from <c>AcquireCoreAsync</c> is impossible: it throws instead.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IRedisLockHandle?> AcquireOrTimeOutAsync(TimeSpan timeout, bool throwOnTimeout, CancellationToken cancellationToken)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), "The timeout must be zero or more, or Timeout.InfiniteTimeSpan.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var arguments = NewArguments(NewToken());
        var start = Engine.Time.GetTimestamp();
        IRedisLockHandle? handle;
        try
        {
            // Callers of this process already queue for this lock (it is held), or another caller of this lock object
            // is attempting it right now (a burst of callers on a free lock): queue behind them without an attempt that
            // would most likely fail. The release that frees it wakes them in turn (see LockEngine.WaitAsync); if that
            // attempt fails instead, it queues too and its failure sets the waiting mark, so the holder's release wakes them.
            if (timeout != TimeSpan.Zero && WakesOneWaiter && (Volatile.Read(ref _attempting) > 0 || Engine.HasQueuedWaiters(SignalKey)))
            {
                handle = await Engine.WaitAsync(this, arguments, timeout, start, lastResult: 0, cancellationToken, behindQueue: true).ConfigureAwait(false);
            }
            else
            {
                // The first attempt awaits the client's task directly when the primitive can start it synchronously:
                // one state machine for the whole uncontended acquire instead of two.
                long result;
                Interlocked.Increment(ref _attempting);
                try
                {
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
                    Interlocked.Decrement(ref _attempting);
                }

                if (result >= 0)
                {
                    return Acquired(arguments, result, start, start);
                }

                if (timeout == TimeSpan.Zero)
                {
                    TimedOut(start);
                    handle = null;
                }
                else
                {
                    handle = await Engine.WaitAsync(this, arguments, timeout, start, result, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Engine.Metrics.Acquired(Kind, "error", Engine.Time.GetElapsedTime(start));
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

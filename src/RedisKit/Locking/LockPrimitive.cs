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

    public string Name { get; }

    /// <summary>The <c>lock.kind</c> metric tag.</summary>
    public string Kind { get; }

    public LockTiming Timing { get; }

    /// <summary>How much less than the expiry the holder may count on (Redlock's clock-drift allowance); zero for one server.</summary>
    public virtual TimeSpan ValidityMargin => TimeSpan.Zero;

    /// <summary>What a release publishes and waiters wait on.</summary>
    public abstract string SignalKey { get; }

    /// <summary>One atomic attempt: &gt;= 0 on success (the fencing token, or 0), else -1 - (ms the holder still has, or 0 if unknown).</summary>
    public abstract ValueTask<long> TryOnceAsync(RedisValue token, CancellationToken cancellationToken);

    /// <summary>Builds the handle of a successful attempt that started at <paramref name="attemptStart"/> (the validity is counted from then).</summary>
    protected abstract LockHandle CreateHandle(RedisValue token, long result, long attemptStart);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<IRedisLockHandle?> TryAcquireCoreAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), "The timeout must be zero or more, or Timeout.InfiniteTimeSpan.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var token = NewToken();
        var start = Engine.Time.GetTimestamp();
        long result;
        try
        {
            result = await TryOnceAsync(token, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Engine.Metrics.Acquired(Kind, "error", Engine.Time.GetElapsedTime(start));
            throw;
        }

        if (result >= 0)
        {
            return Acquired(token, result, start, start);
        }

        if (timeout == TimeSpan.Zero)
        {
            TimedOut(start);
            return null;
        }

        try
        {
            return await Engine.WaitAsync(this, token, timeout, start, result, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Engine.Metrics.Acquired(Kind, "error", Engine.Time.GetElapsedTime(start));
            throw;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<IRedisLockHandle> AcquireCoreAsync(TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var handle = await TryAcquireCoreAsync(timeout ?? Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        return handle ?? throw new TimeoutException($"Timed out after {timeout} waiting for distributed {Kind} '{Name}'.");
    }

    public IRedisLockHandle Acquired(RedisValue token, long result, long attemptStart, long callStart)
    {
        Engine.Metrics.Acquired(Kind, "acquired", Engine.Time.GetElapsedTime(callStart));
        return CreateHandle(token, result, attemptStart);
    }

    public void TimedOut(long callStart) => Engine.Metrics.Acquired(Kind, "timeout", Engine.Time.GetElapsedTime(callStart));

    /// <summary>A random 16-byte owner token (random GUID bytes).</summary>
    private static RedisValue NewToken()
    {
        var bytes = new byte[16];
        Guid.NewGuid().TryWriteBytes(bytes);
        return bytes;
    }
}

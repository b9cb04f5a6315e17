using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// Read-write lock. Keys (one hash tag): <c>{prefix}:rwlock:{name}:readers</c> (sorted set: reader token →
/// expiry in Redis server milliseconds, from <c>TIME</c>), <c>…:writer</c> (writer token, PX expiry),
/// <c>…:fence</c> (the writers' fencing counter). Expired readers are removed by the next script that
/// looks, so a dead reader blocks writers for at most its expiry.
/// </summary>
internal sealed class RedisReadWriteLock : IRedisReadWriteLock
{
    private static readonly RedisScript ReadAcquireScript = RedisScript.FromResource("lock-read-acquire");
    private static readonly RedisScript WriteAcquireScript = RedisScript.FromResource("lock-write-acquire");
    internal static readonly RedisScript ZsetReleaseScript = RedisScript.FromResource("lock-zset-release");
    internal static readonly RedisScript ZsetExtendScript = RedisScript.FromResource("lock-zset-extend");

    private readonly ReadSide _read;
    private readonly WriteSide _write;

    public RedisReadWriteLock(LockEngine engine, IRedisConnection connection, string name, LockTiming timing)
    {
        Name = name;
        var readers = connection.Keys.TaggedKey(RedisLockProvider.RwCapability, name, "readers");
        var writer = connection.Keys.TaggedKey(RedisLockProvider.RwCapability, name, "writer");
        var fence = connection.Keys.TaggedKey(RedisLockProvider.RwCapability, name, "fence");
        var signal = writer.ToString();
        _read = new ReadSide(engine, connection, name, timing, [readers, writer], [readers], signal);
        _write = new WriteSide(engine, connection, name, timing, [writer, readers, fence], [writer], signal);
    }

    public string Name { get; }

    public ValueTask<IRedisLockHandle?> TryAcquireReadAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        _read.TryAcquireCoreAsync(timeout, cancellationToken);

    public ValueTask<IRedisLockHandle> AcquireReadAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        _read.AcquireCoreAsync(timeout, cancellationToken);

    public ValueTask<IRedisLockHandle?> TryAcquireWriteAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        _write.TryAcquireCoreAsync(timeout, cancellationToken);

    public ValueTask<IRedisLockHandle> AcquireWriteAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        _write.AcquireCoreAsync(timeout, cancellationToken);

    private sealed class ReadSide(LockEngine engine, IRedisConnection connection, string name, LockTiming timing, RedisKey[] acquireKeys, RedisKey[] setKey, string signal)
        : LockPrimitive(engine, name, "read", timing)
    {
        public override string SignalKey => signal;

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public override async ValueTask<long> TryOnceAsync(RedisValue token, CancellationToken cancellationToken)
        {
            var database = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var result = (long)await ReadAcquireScript.EvaluateAsync(database, acquireKeys, [token, Timing.ExpiryMilliseconds]).ConfigureAwait(false);
            return result > 0 ? 0 : result;
        }

        protected override LockHandle CreateHandle(RedisValue token, long result, long attemptStart) =>
            new ZsetHandle(this, connection, setKey, signal, token, attemptStart);
    }

    private sealed class WriteSide(LockEngine engine, IRedisConnection connection, string name, LockTiming timing, RedisKey[] acquireKeys, RedisKey[] writerKey, string signal)
        : LockPrimitive(engine, name, "write", timing)
    {
        public override string SignalKey => signal;

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public override async ValueTask<long> TryOnceAsync(RedisValue token, CancellationToken cancellationToken)
        {
            var database = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            return (long)await WriteAcquireScript.EvaluateAsync(database, acquireKeys, [token, Timing.ExpiryMilliseconds]).ConfigureAwait(false);
        }

        protected override LockHandle CreateHandle(RedisValue token, long result, long attemptStart) =>
            new KeyHandle(this, connection, writerKey, signal, token, result, attemptStart);
    }
}

/// <summary>A handle on a plain owner key (compare-and-delete release, compare-and-PEXPIRE extend).</summary>
internal sealed class KeyHandle(LockPrimitive primitive, IRedisConnection connection, RedisKey[] key, string signal, RedisValue token, long fence, long attemptStart)
    : LockHandle(primitive, token, fence, attemptStart)
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    protected override async ValueTask<bool> ExtendCoreAsync(long expiryMilliseconds)
    {
        var database = await connection.GetDatabaseAsync().ConfigureAwait(false);
        return (long)await RedisLock.ExtendScript.EvaluateAsync(database, key, [Token, expiryMilliseconds]).ConfigureAwait(false) == 1;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    protected override async ValueTask ReleaseCoreAsync()
    {
        var database = await connection.GetDatabaseAsync().ConfigureAwait(false);
        await RedisLock.ReleaseScript.EvaluateAsync(database, key, [Token, Primitive.Engine.ChannelValue, signal]).ConfigureAwait(false);
    }
}

/// <summary>A handle on a sorted-set slot (reader or semaphore holder).</summary>
internal sealed class ZsetHandle(LockPrimitive primitive, IRedisConnection connection, RedisKey[] key, string signal, RedisValue token, long attemptStart)
    : LockHandle(primitive, token, 0, attemptStart)
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    protected override async ValueTask<bool> ExtendCoreAsync(long expiryMilliseconds)
    {
        var database = await connection.GetDatabaseAsync().ConfigureAwait(false);
        return (long)await RedisReadWriteLock.ZsetExtendScript.EvaluateAsync(database, key, [Token, expiryMilliseconds]).ConfigureAwait(false) == 1;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    protected override async ValueTask ReleaseCoreAsync()
    {
        var database = await connection.GetDatabaseAsync().ConfigureAwait(false);
        await RedisReadWriteLock.ZsetReleaseScript.EvaluateAsync(database, key, [Token, Primitive.Engine.ChannelValue, signal]).ConfigureAwait(false);
    }
}

/// <summary>
/// Counting semaphore: one sorted set <c>{prefix}:semaphore:{name}:holders</c> (token → expiry in Redis
/// server milliseconds); expired holders are removed by the next acquire, so a dead holder's slot is
/// reclaimed after its expiry.
/// </summary>
internal sealed class RedisSemaphore : LockPrimitive, IRedisSemaphore
{
    private static readonly RedisScript AcquireScript = RedisScript.FromResource("lock-semaphore-acquire");

    private readonly IRedisConnection _connection;
    private readonly RedisKey[] _key;
    private readonly string _signal;

    public RedisSemaphore(LockEngine engine, IRedisConnection connection, string name, int maxCount, LockTiming timing)
        : base(engine, name, "semaphore", timing)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        _connection = connection;
        MaxCount = maxCount;
        var key = connection.Keys.TaggedKey(RedisLockProvider.SemaphoreCapability, name, "holders");
        _key = [key];
        _signal = key.ToString();
    }

    public int MaxCount { get; }

    public override string SignalKey => _signal;

    public ValueTask<IRedisLockHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireCoreAsync(timeout, cancellationToken);

    public ValueTask<IRedisLockHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(timeout, cancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<long> TryOnceAsync(RedisValue token, CancellationToken cancellationToken)
    {
        var database = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = (long)await AcquireScript.EvaluateAsync(database, _key, [token, Timing.ExpiryMilliseconds, MaxCount]).ConfigureAwait(false);
        return result > 0 ? 0 : result;
    }

    protected override LockHandle CreateHandle(RedisValue token, long result, long attemptStart) =>
        new ZsetHandle(this, _connection, _key, _signal, token, attemptStart);
}

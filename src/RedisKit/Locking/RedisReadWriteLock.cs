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
        _write = new WriteSide(engine, connection, name, timing, [writer, readers, fence], new OwnerKey(connection, [writer]), signal);
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
        public override async ValueTask<long> TryOnceAsync(RedisValue[] arguments, CancellationToken cancellationToken)
        {
            var database = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var result = (long)await ReadAcquireScript.EvaluateAsync(database, acquireKeys, arguments).ConfigureAwait(false);
            return result > 0 ? 0 : result;
        }

        protected override LockHandle CreateHandle(RedisValue[] arguments, long result, long attemptStart) =>
            new ZsetHandle(this, connection, setKey, signal, arguments, attemptStart);
    }

    private sealed class WriteSide(LockEngine engine, IRedisConnection connection, string name, LockTiming timing, RedisKey[] acquireKeys, OwnerKey writerKey, string signal)
        : LockPrimitive(engine, name, "write", timing), IOwnerKeyPrimitive
    {
        public override string SignalKey => signal;

        public OwnerKey Owner => writerKey;

        public bool ReleaseLoadedByAcquire => false;

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public override async ValueTask<long> TryOnceAsync(RedisValue[] arguments, CancellationToken cancellationToken)
        {
            var database = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            return (long)await WriteAcquireScript.EvaluateAsync(database, acquireKeys, arguments).ConfigureAwait(false);
        }

        protected override LockHandle CreateHandle(RedisValue[] arguments, long result, long attemptStart) =>
            new KeyHandle(this, arguments, result, attemptStart);
    }
}

/// <summary>
/// A handle on a plain owner key (exclusive lock, write side): compare-and-delete release, compare-and-PEXPIRE extend.
/// <see cref="LockHandle.Arguments"/> is <c>[token, expiry ms]</c>, the layout both scripts read (the release channel is
/// part of the engine's release script). The key and connection come from the primitive, so the handle stores neither.
/// </summary>
internal sealed class KeyHandle(LockPrimitive primitive, RedisValue[] arguments, long fence, long attemptStart)
    : LockHandle(primitive, arguments, fence, attemptStart)
{
    private IRedisConnection Connection => ((IOwnerKeyPrimitive)Primitive).Owner.Connection;

    private RedisKey[] Key => ((IOwnerKeyPrimitive)Primitive).Owner.Key;

    private LockScript Script => Primitive.Engine.OwnerScript;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    protected override async ValueTask<bool> ExtendCoreAsync(long expiryMilliseconds)
    {
        var database = await Connection.GetDatabaseAsync().ConfigureAwait(false);
        var values = expiryMilliseconds == (long)Arguments[1] ? Arguments : [Token, expiryMilliseconds];
        return (long)await RedisLock.ExtendScript.EvaluateAsync(database, Key, values).ConfigureAwait(false) == 1;
    }

    /// <summary>
    /// Written now, reply not awaited. The exclusive lock's acquire ran the same script, so EVALSHA finds it on the key's
    /// server. The write side's acquire is another script: its release passes the script's text, so StackExchange.Redis
    /// (which remembers per server which scripts it loaded there) pipelines <c>SCRIPT LOAD</c> before its first
    /// <c>EVALSHA</c> on a server. Either way the release is not answered NOSCRIPT merely because this process had not
    /// used it there before, which would run it after commands written later. (If the server's script cache was
    /// flushed behind the client's back, the NOSCRIPT is retried by <see cref="RetryReleaseWithSource"/>, later.)
    /// </summary>
    protected override Task ReleaseCoreAsync()
    {
        var database = Connection.GetDatabaseAsync();
        if (!database.IsCompletedSuccessfully)
        {
            return ReleaseWhenConnectedAsync(database);
        }

        return ((IOwnerKeyPrimitive)Primitive).ReleaseLoadedByAcquire
            ? database.Result.ScriptEvaluateAsync(Script.Hash, Key, Arguments)
            : database.Result.ScriptEvaluateAsync(Script.Script.Source, Key, Arguments);
    }

    protected override Task? RetryReleaseWithSource() => RetryAsync();

    private async Task<RedisResult> ReleaseWhenConnectedAsync(ValueTask<IDatabase> database) =>
        await Script.Script.EvaluateAsync(await database.ConfigureAwait(false), Key, Arguments).ConfigureAwait(false);

    private async Task<RedisResult> RetryAsync()
    {
        var database = await Connection.GetDatabaseAsync().ConfigureAwait(false);
        return await Script.Script.EvaluateAsync(database, Key, Arguments).ConfigureAwait(false);
    }
}

/// <summary>A primitive whose handles own a plain key (<see cref="KeyHandle"/>).</summary>
internal interface IOwnerKeyPrimitive
{
    OwnerKey Owner { get; }

    /// <summary>Whether a successful acquire left the release script cached on the key's server (same script).</summary>
    bool ReleaseLoadedByAcquire { get; }
}

/// <summary>
/// The owner key of an exclusive lock or write side, with its connection (one object per lock, shared by its handles).
/// <see cref="Key"/> is what the release and extension scripts get: the owner key, then (exclusive lock) its waiting mark.
/// </summary>
internal sealed class OwnerKey(IRedisConnection connection, RedisKey[] keys)
{
    public IRedisConnection Connection { get; } = connection;

    public RedisKey[] Key { get; } = keys;
}

/// <summary>A handle on a sorted-set slot (reader or semaphore holder).</summary>
internal sealed class ZsetHandle(LockPrimitive primitive, IRedisConnection connection, RedisKey[] key, string signal, RedisValue[] arguments, long attemptStart)
    : LockHandle(primitive, arguments, 0, attemptStart)
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    protected override async ValueTask<bool> ExtendCoreAsync(long expiryMilliseconds)
    {
        var database = await connection.GetDatabaseAsync().ConfigureAwait(false);
        var values = expiryMilliseconds == (long)Arguments[1] ? Arguments : [Token, expiryMilliseconds];
        return (long)await RedisReadWriteLock.ZsetExtendScript.EvaluateAsync(database, key, values).ConfigureAwait(false) == 1;
    }

    protected override Task ReleaseCoreAsync() => ReleaseAsync();

    private async Task<RedisResult> ReleaseAsync()
    {
        var database = await connection.GetDatabaseAsync().ConfigureAwait(false);
        // The script's text, not its SHA: StackExchange.Redis loads it on a server the first time (SCRIPT LOAD pipelined
        // before the EVALSHA, so the release keeps its place in the connection's order) and retries a NOSCRIPT itself.
        return await database.ScriptEvaluateAsync(RedisReadWriteLock.ZsetReleaseScript.Source, key, [Token, Primitive.Engine.ChannelValue, signal]).ConfigureAwait(false);
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

    /// <summary>[token, expiry ms, max count]: lock-semaphore-acquire's layout (the slot extension reads the first two).</summary>
    public override RedisValue[] NewArguments(RedisValue token) => [token, Timing.ExpiryMilliseconds, MaxCount];

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<long> TryOnceAsync(RedisValue[] arguments, CancellationToken cancellationToken)
    {
        var database = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = (long)await AcquireScript.EvaluateAsync(database, _key, arguments).ConfigureAwait(false);
        return result > 0 ? 0 : result;
    }

    protected override LockHandle CreateHandle(RedisValue[] arguments, long result, long attemptStart) =>
        new ZsetHandle(this, _connection, _key, _signal, arguments, attemptStart);
}

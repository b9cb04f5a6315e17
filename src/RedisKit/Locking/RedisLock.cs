using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// The exclusive lock on one Redis deployment. Keys (one hash tag, so one cluster slot):
/// <c>{prefix}:lock:{name}:owner</c> (owner token, PX expiry) and <c>{prefix}:lock:{name}:fence</c>
/// (the fencing counter, INCR'd by the same script that takes the lock; it never expires).
/// </summary>
internal sealed class RedisLock : LockPrimitive, IRedisLock
{
    private static readonly LockScript Acquire = new("lock-acquire");
    private static readonly LockScript Release = new("lock-release");
    internal static readonly RedisScript ReleaseScript = RedisScript.FromResource("lock-release");
    internal static readonly RedisScript ExtendScript = RedisScript.FromResource("lock-extend");

    private readonly IRedisConnection _connection;
    private readonly RedisKey[] _acquireKeys;
    private readonly RedisKey[] _ownerKey;
    private readonly string _signal;

    public RedisLock(LockEngine engine, IRedisConnection connection, string name, LockTiming timing)
        : base(engine, name, "lock", timing)
    {
        _connection = connection;
        var owner = connection.Keys.TaggedKey(RedisLockProvider.Capability, name, "owner");
        _acquireKeys = [owner, connection.Keys.TaggedKey(RedisLockProvider.Capability, name, "fence")];
        _ownerKey = [owner];
        _signal = owner.ToString();
    }

    public override string SignalKey => _signal;

    public ValueTask<IRedisLockHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireCoreAsync(timeout, cancellationToken);

    public ValueTask<IRedisLockHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(timeout, cancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<long> TryOnceAsync(RedisValue token, CancellationToken cancellationToken)
    {
        var database = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        RedisValue[] values = [token, Timing.ExpiryMilliseconds];
        RedisResult result;
        try
        {
            result = await database.ScriptEvaluateAsync(Acquire.Hash, _acquireKeys, values).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (LockScript.IsNoScript(ex))
        {
            result = await Acquire.Script.EvaluateAsync(database, _acquireKeys, values).ConfigureAwait(false);
        }

        return (long)result;
    }

    protected override LockHandle CreateHandle(RedisValue token, long result, long attemptStart) => new Handle(this, token, result, attemptStart);

    private sealed class Handle(RedisLock owner, RedisValue token, long fence, long attemptStart) : LockHandle(owner, token, fence, attemptStart)
    {
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        protected override async ValueTask<bool> ExtendCoreAsync(long expiryMilliseconds)
        {
            var database = await owner._connection.GetDatabaseAsync().ConfigureAwait(false);
            var result = await ExtendScript.EvaluateAsync(database, owner._ownerKey, [Token, expiryMilliseconds]).ConfigureAwait(false);
            return (long)result == 1;
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        protected override async ValueTask ReleaseCoreAsync()
        {
            var database = await owner._connection.GetDatabaseAsync().ConfigureAwait(false);
            RedisValue[] values = [Token, owner.Engine.ChannelValue, owner._signal];
            try
            {
                await database.ScriptEvaluateAsync(Release.Hash, owner._ownerKey, values).ConfigureAwait(false);
            }
            catch (RedisServerException ex) when (LockScript.IsNoScript(ex))
            {
                await ReleaseScript.EvaluateAsync(database, owner._ownerKey, values).ConfigureAwait(false);
            }
        }
    }
}

using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// The exclusive lock on one Redis deployment. Keys (one hash tag, so one cluster slot):
/// <c>{prefix}:lock:{name}:owner</c> (owner token, PX expiry), <c>{prefix}:lock:{name}:fence</c>
/// (the fencing counter, INCR'd by the same script that takes the lock; it never expires) and
/// <c>{prefix}:lock:{name}:waiting</c> (with release notifications on, set for up to two minutes by a failed attempt: the
/// next release publishes; see lock-owner.lua).
/// </summary>
/// <remarks>
/// Hot path, per acquire+release: one argument array (<c>[token, expiry ms]</c>, shared by the
/// acquire, the release and same-expiry extensions), the handle, and one EVALSHA each way; the token is a number,
/// so it allocates nothing.
/// </remarks>
internal sealed class RedisLock : LockPrimitive, IRedisLock, IOwnerKeyPrimitive
{
    /// <summary>lock-owner.lua publishing nothing (Redlock's release, providers without release notifications).</summary>
    internal static readonly LockScript OwnerWithoutNotification = LockScript.Owner("");

    /// <summary>The owner-checked release (lock-owner.lua called with the owner key alone) that publishes nothing.</summary>
    internal static readonly RedisScript ReleaseScript = OwnerWithoutNotification.Script;
    internal static readonly RedisScript ExtendScript = RedisScript.FromResource("lock-extend");

    private readonly IRedisConnection _connection;
    private readonly RedisKey[] _acquireKeys;
    private readonly OwnerKey _ownerKey;
    private readonly string _signal;

    public RedisLock(LockEngine engine, IRedisConnection connection, string name, LockTiming timing)
        : base(engine, name, "lock", timing)
    {
        _connection = connection;
        var owner = connection.Keys.TaggedKey(RedisLockProvider.Capability, name, "owner");
        var waiting = connection.Keys.TaggedKey(RedisLockProvider.Capability, name, "waiting");
        _acquireKeys = [owner, connection.Keys.TaggedKey(RedisLockProvider.Capability, name, "fence"), waiting];
        _ownerKey = new OwnerKey(connection, [owner, waiting]);
        _signal = owner.ToString();
    }

    public override string SignalKey => _signal;

    public override bool WakesOneWaiter => true;

    public OwnerKey Owner => _ownerKey;

    /// <summary>The acquire ran <see cref="LockEngine.OwnerScript"/>, which is also the release: it is cached on the key's server.</summary>
    public bool ReleaseLoadedByAcquire => true;

    public ValueTask<IRedisLockHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireCoreAsync(timeout, cancellationToken);

    public ValueTask<IRedisLockHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireCoreAsync(timeout, cancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<long> TryOnceAsync(RedisValue[] arguments, CancellationToken cancellationToken)
    {
        var databaseTask = _connection.GetDatabaseAsync(cancellationToken);
        var database = databaseTask.IsCompletedSuccessfully ? databaseTask.Result : await databaseTask.ConfigureAwait(false);
        RedisResult result;
        try
        {
            result = await database.ScriptEvaluateAsync(Engine.OwnerScript.Hash, _acquireKeys, arguments).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (LockScript.IsNoScript(ex))
        {
            // EVAL also caches the script on that server, so this handle's release will find it there.
            result = await Engine.OwnerScript.Script.EvaluateAsync(database, _acquireKeys, arguments).ConfigureAwait(false);
        }

        return (long)result;
    }

    internal override Task<RedisResult>? StartAttempt(RedisValue[] arguments)
    {
        var database = _connection.GetDatabaseAsync();
        return database.IsCompletedSuccessfully
            ? database.Result.ScriptEvaluateAsync(Engine.OwnerScript.Hash, _acquireKeys, arguments)
            : null;
    }

    /// <summary>
    /// A release answered 1 freed the lock without publishing (no waiter of any process had failed an attempt since the
    /// last published release, or notifications are off): the next waiter of this process, if any, is woken here, as its
    /// answer arrives, instead of by a message. An answer 2 published, and this process's subscription wakes that waiter.
    /// </summary>
    internal override void Released(long result)
    {
        if (result == 1)
        {
            Engine.WakeOne(_signal);
        }
    }

    protected override LockHandle CreateHandle(RedisValue[] arguments, long result, long attemptStart) => new KeyHandle(this, arguments, result, attemptStart);
}

namespace RedisKit;

/// <summary>
/// Creates distributed locks by name on the shared Redis connection (inject it; it is a singleton).
/// Every lock of one name, on every node of the application, excludes the others.
/// </summary>
public interface IRedisLockProvider
{
    /// <summary>
    /// A mutually exclusive lock named <paramref name="name"/>. Cheap (no round trip); keep and reuse it.
    /// <paramref name="settings"/> overrides the provider's expiry and auto-extension for this lock.
    /// </summary>
    IRedisLock CreateLock(string name, RedisLockSettings? settings = null);

    /// <summary>A read-write lock: many readers or one writer. No round trip.</summary>
    IRedisReadWriteLock CreateReadWriteLock(string name, RedisLockSettings? settings = null);

    /// <summary>A counting semaphore that admits at most <paramref name="maxCount"/> holders at once. No round trip.</summary>
    IRedisSemaphore CreateSemaphore(string name, int maxCount, RedisLockSettings? settings = null);

    /// <summary>
    /// The resource side of fencing: stores <paramref name="value"/> in the hash at <paramref name="key"/> only
    /// when <paramref name="fencingToken"/> is at least the highest token that has written there before, so a
    /// holder that lost its lock (paused, expired) cannot overwrite its successor's write. One round trip
    /// (one script). Returns false when the write was rejected as stale. Throws
    /// <see cref="StackExchange.Redis.RedisConnectionException"/> when Redis is down.
    /// </summary>
    Task<bool> FencedWriteAsync(StackExchange.Redis.RedisKey key, StackExchange.Redis.RedisValue value, long fencingToken, TimeSpan? expiry = null, CancellationToken cancellationToken = default);

    /// <summary>Reads the value and the fencing token last written by <see cref="FencedWriteAsync"/>. One round trip.</summary>
    Task<(StackExchange.Redis.RedisValue Value, long FencingToken)> FencedReadAsync(StackExchange.Redis.RedisKey key, CancellationToken cancellationToken = default);
}

/// <summary>Per-lock overrides of <see cref="LockingOptions"/>; null keeps the provider's setting.</summary>
public sealed class RedisLockSettings
{
    /// <summary>How long the lock lives without extension.</summary>
    public TimeSpan? Expiry { get; set; }

    /// <summary>Whether the lock is extended in the background while held.</summary>
    public bool? AutoExtend { get; set; }

    /// <summary>The longest the lock is auto-extended.</summary>
    public TimeSpan? MaxHoldTime { get; set; }
}

/// <summary>A named distributed lock (DistributedLock's semantics).</summary>
public interface IRedisLock
{
    /// <summary>The lock's name.</summary>
    string Name { get; }

    /// <summary>
    /// Tries to take the lock, waiting up to <paramref name="timeout"/> (zero, the default, means one attempt;
    /// <see cref="Timeout.InfiniteTimeSpan"/> waits forever). Returns the handle, or null if the lock is still
    /// held by someone else when the timeout passes. One round trip when free; while waiting, one per retry
    /// (retries are jittered and woken early when the holder releases). Throws the connection's exception
    /// (<see cref="StackExchange.Redis.RedisConnectionException"/> or <see cref="StackExchange.Redis.RedisTimeoutException"/>)
    /// when Redis is down or does not answer: "could not tell" is never reported as "held by someone else".
    /// </summary>
    ValueTask<IRedisLockHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default);

    /// <summary>
    /// Takes the lock, waiting up to <paramref name="timeout"/> (null: forever); throws <see cref="TimeoutException"/>
    /// when it is still held by someone else then. Round trips and Redis-down behaviour as <see cref="TryAcquireAsync"/>.
    /// </summary>
    ValueTask<IRedisLockHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default);
}

/// <summary>
/// A held lock. Dispose it to release the lock: auto-extension stops, then one owner-checked script is written to
/// the connection. By default <c>DisposeAsync</c> returns without waiting for the reply (later commands of this
/// application to the same server run after the release; a failure is logged and counted, and the lock then expires
/// by itself); with <see cref="LockingOptions.AwaitRelease"/> it returns after the server answered (one round trip).
/// It never throws for a Redis failure.
/// </summary>
public interface IRedisLockHandle : IAsyncDisposable
{
    /// <summary>The lock's name.</summary>
    string Name { get; }

    /// <summary>
    /// A number that strictly increases each time this lock name is acquired (exclusive locks and write
    /// locks on one Redis deployment). Pass it to the resource you protect and have the resource reject
    /// writes carrying a lower token than it has seen (<see cref="IRedisLockProvider.FencedWriteAsync"/>, or
    /// a <c>WHERE fence &lt;= @token</c> in SQL). 0 for read locks, semaphores and Redlock, which cannot give one.
    /// </summary>
    long FencingToken { get; }

    /// <summary>
    /// Cancelled as soon as the lock is known lost: an extension found another owner or no key, or the
    /// expiry passed without a successful extension (Redis down, <see cref="LockingOptions.MaxHoldTime"/>
    /// reached, auto-extension off). Not cancelled by a normal release.
    /// </summary>
    CancellationToken HandleLostToken { get; }

    /// <summary>
    /// Resets the lock's expiry to <paramref name="expiry"/> (null: the lock's configured expiry), only if this
    /// handle still owns it: an expired or stolen lock is never re-created. One round trip. Returns false
    /// (and fires <see cref="HandleLostToken"/>) when the lock is lost; throws when Redis is down.
    /// </summary>
    ValueTask<bool> ExtendAsync(TimeSpan? expiry = null, CancellationToken cancellationToken = default);
}

/// <summary>A read-write lock: any number of readers, or one writer. Readers and writers expire like locks.</summary>
public interface IRedisReadWriteLock
{
    /// <summary>The lock's name.</summary>
    string Name { get; }

    /// <summary>Takes a read lock (shared) unless a writer holds the lock; otherwise as <see cref="IRedisLock.TryAcquireAsync"/>.</summary>
    ValueTask<IRedisLockHandle?> TryAcquireReadAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default);

    /// <summary>Takes a read lock or throws <see cref="TimeoutException"/>.</summary>
    ValueTask<IRedisLockHandle> AcquireReadAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default);

    /// <summary>Takes the write lock (exclusive) when no reader and no writer holds it; the handle has a fencing token.</summary>
    ValueTask<IRedisLockHandle?> TryAcquireWriteAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default);

    /// <summary>Takes the write lock or throws <see cref="TimeoutException"/>.</summary>
    ValueTask<IRedisLockHandle> AcquireWriteAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default);
}

/// <summary>A counting semaphore: at most <see cref="MaxCount"/> holders at once; a dead holder's slot expires.</summary>
public interface IRedisSemaphore
{
    /// <summary>The semaphore's name.</summary>
    string Name { get; }

    /// <summary>How many holders are admitted at once.</summary>
    int MaxCount { get; }

    /// <summary>Takes a slot; semantics as <see cref="IRedisLock.TryAcquireAsync"/>.</summary>
    ValueTask<IRedisLockHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default);

    /// <summary>Takes a slot or throws <see cref="TimeoutException"/>.</summary>
    ValueTask<IRedisLockHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default);
}

namespace RedisKit;

/// <summary>
/// A two-level cache: an optional bounded in-memory L1 in front of Redis (L2), kept coherent across
/// instances by a pub/sub backplane. Keys are the caller's; RedisKit stores them as
/// <c>{prefix}:cache:{key}</c>. Values of one key must always be read as the same type.
/// </summary>
/// <remarks>
/// <para>Failure policy: reads (<c>TryGet</c>, <c>Get</c>, <c>GetMany</c>, <c>Exists</c>,
/// <c>TimeToLive</c>) treat Redis failures as misses and never throw for them. <c>GetOrSet</c> never
/// fails because of Redis: it serves L1, a fail-safe stale value or the factory's result. Writes and
/// invalidations (<c>Set</c>, <c>Remove</c>, <c>RemoveByTag</c>, …) update L1 and then throw the Redis
/// exception, so the caller knows the shared cache was not changed.</para>
/// <para>A corrupted entry (bytes that do not decode) is logged, removed and treated as a miss.</para>
/// </remarks>
public interface IRedisCache
{
    /// <summary>Reads a value if present and fresh; never runs a factory or writes. L1 hit: no round trip; else one GET.</summary>
    ValueTask<CacheResult<T>> TryGetAsync<T>(string key, CancellationToken cancellationToken = default);

    /// <summary>Reads a value, or <paramref name="defaultValue"/> when absent. Same cost as <see cref="TryGetAsync{T}"/>.</summary>
    ValueTask<T?> GetAsync<T>(string key, T? defaultValue = default, CancellationToken cancellationToken = default);

    /// <summary>
    /// Cache-aside: returns the cached value, or runs <paramref name="factory"/> once (per key, across
    /// every caller in this process and, with the distributed lock, across instances) and caches its
    /// result. Hit: L1 no round trip, L2 one GET. Miss: one script (re-read, generation, stampede lock),
    /// the factory, one script (conditional write + unlock) and one PUBLISH.
    /// </summary>
    ValueTask<T> GetOrSetAsync<T>(string key, Func<CacheFactoryContext<T>, CancellationToken, Task<T>> factory, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default);

    /// <summary>Cache-aside with a factory that needs no context (the type is inferred from it). Same costs as the other overloads.</summary>
    ValueTask<T> GetOrSetAsync<T>(string key, Func<CancellationToken, Task<T>> factory, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default);

    /// <summary>The same as <see cref="GetOrSetAsync{T}(string, Func{CacheFactoryContext{T}, CancellationToken, Task{T}}, CacheEntryOptions?, IEnumerable{string}?, CancellationToken)"/> with a state argument, so callers need no closure.</summary>
    ValueTask<T> GetOrSetAsync<TState, T>(string key, TState state, Func<TState, CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default);

    /// <summary>Writes a value (one script: SET + generation bump), updates L1 and tells other instances to evict theirs.</summary>
    /// <exception cref="CacheValueTooLargeException">The serialized value exceeds <see cref="CacheOptions.MaxValueBytes"/>.</exception>
    ValueTask SetAsync<T>(string key, T value, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default);

    /// <summary>Write-through: writes <paramref name="value"/> to the primary store first, then to the cache. If the store write fails nothing is cached.</summary>
    ValueTask WriteThroughAsync<T>(string key, T value, Func<T, CancellationToken, Task> writeToStore, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default);

    /// <summary>Removes a key everywhere (one script: UNLINK + generation bump, one PUBLISH). Returns whether Redis held it.</summary>
    ValueTask<bool> RemoveAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Invalidates every entry written with <paramref name="tag"/>, on every instance and level: one INCR, O(1) in the number of entries.</summary>
    ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes every key that starts with <paramref name="keyPrefix"/> (taken literally: glob characters
    /// match only themselves): SCAN on every primary and batched UNLINK, never KEYS. Returns the number removed.
    /// </summary>
    ValueTask<long> RemoveByPrefixAsync(string keyPrefix, CancellationToken cancellationToken = default);

    /// <summary>Whether a fresh value exists (L1, else one GETRANGE of the entry header).</summary>
    ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Sets a new duration from now (one script patching the entry's expiry and TTL). False when absent.</summary>
    ValueTask<bool> ExpireAsync(string key, TimeSpan duration, CancellationToken cancellationToken = default);

    /// <summary>Makes an entry never expire (one script). False when absent.</summary>
    ValueTask<bool> PersistAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>How long an entry stays fresh, <see cref="Timeout.InfiniteTimeSpan"/> when persisted, <see langword="null"/> when absent or expired. One GETRANGE.</summary>
    ValueTask<TimeSpan?> TimeToLiveAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Adds <paramref name="delta"/> to a counter (a separate key space from values), giving it <paramref name="timeToLive"/> if it has no TTL. One script.</summary>
    ValueTask<long> IncrementAsync(string counter, long delta = 1, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default);

    /// <summary>Reads several keys: L1 first, then one MGET per hash slot, all pipelined (one round trip per node). Absent keys are left out.</summary>
    ValueTask<IReadOnlyDictionary<string, T>> GetManyAsync<T>(IReadOnlyCollection<string> keys, CancellationToken cancellationToken = default);

    /// <summary>Writes several values, pipelined (one round trip per node), one PUBLISH.</summary>
    ValueTask SetManyAsync<T>(IEnumerable<KeyValuePair<string, T>> items, CacheEntryOptions? options = null, CancellationToken cancellationToken = default);
}

/// <summary>The result of <see cref="IRedisCache.TryGetAsync{T}"/>.</summary>
/// <param name="Found">Whether the cache knew the key (including a cached "not found").</param>
/// <param name="Value">The value; default for a cached "not found".</param>
/// <param name="IsNotFound">Whether the entry is a negative-cache marker written by <see cref="CacheFactoryContext{T}.NotFound"/>.</param>
public readonly record struct CacheResult<T>(bool Found, T? Value, bool IsNotFound = false);

/// <summary>What a factory may see and change about the entry it produces (adaptive caching).</summary>
public sealed class CacheFactoryContext<T>
{
    internal CacheFactoryContext(string key, CacheEntryOptions options, bool hasStale, T? stale)
    {
        Key = key;
        Options = options;
        HasStaleValue = hasStale;
        StaleValue = stale;
    }

    /// <summary>The key being produced.</summary>
    public string Key { get; }

    /// <summary>The entry's options; replace them (e.g. <c>ctx.Options = ctx.Options with { Duration = … }</c>) to adapt this entry.</summary>
    public CacheEntryOptions Options { get; set; }

    /// <summary>Whether an expired value is available (the factory may use it, e.g. for conditional requests).</summary>
    public bool HasStaleValue { get; }

    /// <summary>The expired value, when <see cref="HasStaleValue"/>.</summary>
    public T? StaleValue { get; }

    internal bool Skip { get; private set; }

    internal bool IsNotFound { get; private set; }

    /// <summary>Returns the value to the caller without caching it (e.g. a null, or a partial result).</summary>
    public void SkipCaching() => Skip = true;

    /// <summary>Caches "not found" for <see cref="CacheEntryOptions.NegativeDuration"/> (or <paramref name="duration"/>); callers get default.</summary>
    public void NotFound(TimeSpan? duration = null)
    {
        IsNotFound = true;
        if (duration is { } d)
        {
            Options = Options with { NegativeDuration = d };
        }
    }
}

using Microsoft.Extensions.Caching.Hybrid;

namespace RedisKit;

/// <summary>
/// Microsoft's <see cref="HybridCache"/> abstraction served by <see cref="IRedisCache"/>: code written
/// against HybridCache gets RedisKit's L1 + Redis, stampede protection across instances, fail-safe,
/// tags honoured on every instance, and the backplane. <see cref="HybridCacheEntryOptions.Expiration"/>
/// maps to <see cref="CacheEntryOptions.Duration"/>; the flags that disable local or distributed
/// reads/writes map to <see cref="CacheEntryOptions.SkipL1"/> (Redis is always used).
/// </summary>
public sealed class RedisKitHybridCache : HybridCache
{
    private readonly IRedisCache _cache;

    /// <summary>Creates the adapter.</summary>
    public RedisKitHybridCache(IRedisCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        _cache = cache;
    }

    /// <inheritdoc />
    public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
        _cache.GetOrSetAsync<(TState State, Func<TState, CancellationToken, ValueTask<T>> Factory), T>(key, (state, factory), static (s, _, ct) => s.Factory(s.State, ct), Map(options), tags, cancellationToken);

    /// <inheritdoc />
    public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
        _cache.SetAsync(key, value, Map(options), tags, cancellationToken);

    /// <inheritdoc />
    public override async ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) =>
        await _cache.RemoveAsync(key, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) =>
        _cache.RemoveByTagAsync(tag, cancellationToken);

    private static CacheEntryOptions? Map(HybridCacheEntryOptions? options)
    {
        if (options is null)
        {
            return null;
        }

        var mapped = new CacheEntryOptions();
        if (options.Expiration is { } expiration)
        {
            mapped = mapped with { Duration = expiration };
        }

        if ((options.Flags & (HybridCacheEntryFlags.DisableLocalCacheRead | HybridCacheEntryFlags.DisableLocalCacheWrite)) != 0)
        {
            mapped = mapped with { SkipL1 = true };
        }

        return mapped;
    }
}

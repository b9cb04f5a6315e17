using Microsoft.AspNetCore.OutputCaching;
using RedisKit;

namespace RedisKit.AspNetCore;

/// <summary>
/// ASP.NET Core output caching on RedisKit's cache: <c>AddOutputCache</c> / <c>UseOutputCache</c> /
/// <c>.CacheOutput(…)</c> keep their policies, vary-by rules and tags, and responses are shared by
/// every instance. <see cref="EvictByTagAsync"/> is RedisKit's O(1) tag invalidation, so an eviction
/// on one instance is honoured by every instance (backplane) and by Redis. A response is one cache
/// entry: a hit is L1 (no round trip) or one GET; a store is one script.
/// </summary>
/// <remarks>When Redis is down, lookups miss (the response is produced) and stores are skipped; the
/// request never fails because of the cache.</remarks>
internal sealed class RedisOutputCacheStore : IOutputCacheStore
{
    private const string KeyPrefix = "output:";
    private readonly IRedisCache _cache;

    public RedisOutputCacheStore(IRedisCache cache) => _cache = cache;

    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var result = await _cache.TryGetAsync<byte[]>(KeyPrefix + key, cancellationToken).ConfigureAwait(false);
        return result.Found ? result.Value : null;
    }

    public async ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        try
        {
            var options = new CacheEntryOptions { Duration = validFor, FailSafe = false };
            await _cache.SetAsync(KeyPrefix + key, value, options, tags, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException or CacheValueTooLargeException)
        {
            // The response was produced and sent; failing to cache it must not fail the request.
        }
    }

    public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken) => _cache.RemoveByTagAsync(tag, cancellationToken);
}

using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace RedisKit.Tests.Caching;

public class HybridCacheAdapterTests
{
    [Fact]
    public async Task HybridCache_IsServedByRedisKit_WithStateTagsAndRemoval()
    {
        var server = await Servers.Redis();
        await using var app = await CacheInstance.StartAsync(server.ConnectionString, Servers.NewPrefix());
        var hybrid = app.Services.GetRequiredService<HybridCache>();
        Assert.IsType<RedisKitHybridCache>(hybrid);
        var calls = 0;

        async ValueTask<string> Load(int id, CancellationToken _)
        {
            Interlocked.Increment(ref calls);
            await Task.Yield();
            return $"product {id}";
        }

        var first = await hybrid.GetOrCreateAsync("p:5", 5, Load, new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(1) }, ["catalog"]);
        var second = await hybrid.GetOrCreateAsync("p:5", 5, Load, tags: ["catalog"]);
        Assert.Equal("product 5", first);
        Assert.Equal(first, second);
        Assert.Equal(1, calls);
        Assert.Equal("product 5", await app.Cache.GetAsync<string>("p:5"));

        await hybrid.RemoveByTagAsync("catalog");
        await hybrid.GetOrCreateAsync("p:5", 5, Load, tags: ["catalog"]);
        Assert.Equal(2, calls);

        await hybrid.SetAsync("p:6", "set directly");
        Assert.Equal("set directly", await app.Cache.GetAsync<string>("p:6"));
        await hybrid.RemoveAsync("p:6");
        Assert.False((await app.Cache.TryGetAsync<string>("p:6")).Found);
    }
}

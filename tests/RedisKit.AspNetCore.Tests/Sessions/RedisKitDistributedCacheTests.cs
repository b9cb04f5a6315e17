using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;

namespace RedisKit.AspNetCore.Tests.Sessions;

public class RedisKitDistributedCacheTests
{
    private static async Task<(ServiceProvider Provider, IDistributedCache Cache)> StartAsync()
    {
        var redis = await Servers.Redis();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddRedisKit(o =>
        {
            o.ConnectionString = redis.ConnectionString;
            o.KeyPrefix = Servers.NewPrefix();
        }).AddDistributedCache();
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<IDistributedCache>());
    }

    [Fact]
    public async Task GetAsync_SlidingExpiration_ExtendsButNeverPastAbsolute()
    {
        var (provider, cache) = await StartAsync();
        await using var _p = provider;
        Assert.IsType<RedisKitDistributedCache>(cache);

        // Sliding 2 s, absolute 3.2 s. Each step has 800 ms of slack for a late timer or a slow call on a loaded
        // machine (it had 400 ms, and a clean-clone CI run once found the entry gone at the second read).
        await cache.SetAsync("k", [1, 2, 3], new DistributedCacheEntryOptions
        {
            SlidingExpiration = TimeSpan.FromSeconds(2),
            AbsoluteExpirationRelativeToNow = TimeSpan.FromMilliseconds(3200),
        });

        await Task.Delay(1200); // t = 1.2 s: alive (unslid, it would live until 2 s); the read slides it to 3.2 s
        Assert.Equal(new byte[] { 1, 2, 3 }, await cache.GetAsync("k"));
        await Task.Delay(1200); // t = 2.4 s
        Assert.Equal(new byte[] { 1, 2, 3 }, await cache.GetAsync("k")); // alive only because the get slid it
        await Task.Delay(1400); // t = 3.8 s: the slide would reach 4.4 s
        Assert.Null(await cache.GetAsync("k")); // the absolute deadline wins over the slide
    }

    [Fact]
    public async Task SetGetRefreshRemove_SyncAndAsync_Work()
    {
        var (provider, cache) = await StartAsync();
        await using var _p = provider;

        cache.Set("a", [7], new DistributedCacheEntryOptions());
        Assert.Equal(new byte[] { 7 }, cache.Get("a"));
        cache.Refresh("a");
        await cache.RefreshAsync("a");
        cache.Remove("a");
        Assert.Null(await cache.GetAsync("a"));

        await cache.SetAsync("b", [8], new DistributedCacheEntryOptions { AbsoluteExpiration = DateTimeOffset.UtcNow.AddMinutes(1) });
        Assert.Equal(new byte[] { 8 }, cache.Get("b"));
        await cache.RemoveAsync("b");
        Assert.Null(cache.Get("b"));
    }
}

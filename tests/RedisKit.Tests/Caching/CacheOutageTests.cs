using RedisKit.Testing;

namespace RedisKit.Tests.Caching;

/// <summary>What the cache does when the real server is stopped, and that it recovers.</summary>
public class CacheOutageTests
{
    private static Action<RedisKitOptions> FastFailure => OutageReadyOptions.Apply;

    [Fact]
    public async Task GetOrSet_RedisStopped_ReturnsFactoryValue_ThenRecoversWhenRedisIsBack()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var app = await CacheInstance.StartAsync(server.ConnectionString, Servers.NewPrefix(), redis: FastFailure);
        var calls = 0;
        Task<int> Factory(CacheFactoryContext<int> _, CancellationToken __) => Task.FromResult(Interlocked.Increment(ref calls));

        await server.StopAsync();
        var whileDown = await app.Cache.GetOrSetAsync<int>("down", Factory, new CacheEntryOptions { SkipL1 = true });
        Assert.Equal(1, whileDown);
        Assert.False((await app.Cache.TryGetAsync<int>("nothing")).Found);
        await Assert.ThrowsAnyAsync<Exception>(async () => await app.Cache.SetAsync("x", 1));

        await server.StartAgainAsync();
        await TestHost.EventuallyAsync(async () =>
        {
            await app.Cache.SetAsync("up", 5);
            return true;
        }, TimeSpan.FromSeconds(10));
        Assert.Equal(5, await app.Cache.GetAsync<int>("up"));
        var afterRecovery = await app.Cache.GetOrSetAsync<int>("down", Factory, new CacheEntryOptions { SkipL1 = true });
        Assert.Equal(afterRecovery, await app.Cache.GetOrSetAsync<int>("down", Factory, new CacheEntryOptions { SkipL1 = true }));
    }

    [Fact]
    public async Task GetOrSet_RedisStoppedAndFactoryFailing_ServesStaleFromL1()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var app = await CacheInstance.StartAsync(server.ConnectionString, Servers.NewPrefix(), o => o.L1TrustWhileDisconnected = TimeSpan.FromMilliseconds(100), redis: FastFailure);
        await app.Cache.GetOrSetAsync("stale", _ => Task.FromResult("last good"), new CacheEntryOptions { Duration = TimeSpan.FromMinutes(5) });

        await server.StopAsync();
        await Task.Delay(300);

        // L1 is no longer trusted as fresh (bounded staleness), so the factory runs; it fails, so fail-safe serves the last good value.
        var value = await app.Cache.GetOrSetAsync<string>("stale", _ => throw new InvalidOperationException("db down too"));
        Assert.Equal("last good", value);
    }

    [Fact]
    public async Task L1_AfterDisconnectBound_IsNotServedAsFresh()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var app = await CacheInstance.StartAsync(server.ConnectionString, Servers.NewPrefix(), o => o.L1TrustWhileDisconnected = TimeSpan.FromMilliseconds(100), redis: FastFailure);
        await app.Cache.SetAsync("bounded", "cached");
        Assert.Equal("cached", await app.Cache.GetAsync<string>("bounded"));

        await server.StopAsync();
        await TestHost.EventuallyAsync(async () =>
        {
            var result = await app.Cache.TryGetAsync<string>("bounded");
            return result.Found ? throw new InvalidOperationException("still served from L1") : true;
        }, TimeSpan.FromSeconds(5));

        var recomputed = await app.Cache.GetOrSetAsync("bounded", _ => Task.FromResult("from database"));
        Assert.Equal("from database", recomputed);
    }
}

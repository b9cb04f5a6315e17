using Microsoft.Extensions.DependencyInjection;
using RedisKit.DataStructures;
using StackExchange.Redis;

namespace RedisKit.Tests.DataStructures;

public class RecentListTests
{
    private static ServiceProvider Build(string connectionString) => TestHost.Build(connectionString, configure: b => b.AddDataStructures());

    [Fact]
    public async Task Push_OverCapacity_KeepsNewestFirst()
    {
        await using var provider = Build((await Servers.Redis()).ConnectionString);
        var recent = provider.GetRequiredService<IRedisDataStructures>().RecentList("viewed", new RecentListOptions { Capacity = 3 });

        foreach (var item in new[] { "a", "b", "c", "d" })
        {
            await recent.PushAsync("user-1", item);
        }

        Assert.Equal(["d", "c", "b"], await recent.GetAsync("user-1"));
        Assert.Equal(["d", "c"], await recent.GetAsync("user-1", 2));
        Assert.Empty(await recent.GetAsync("user-2"));
    }

    [Fact]
    public async Task Push_Deduplicated_MovesExistingItemToFront()
    {
        await using var provider = Build((await Servers.Redis()).ConnectionString);
        var recent = provider.GetRequiredService<IRedisDataStructures>().RecentList("viewed", new RecentListOptions { Capacity = 3 });
        foreach (var item in new[] { "a", "b", "c" })
        {
            await recent.PushAsync("user-1", item);
        }

        Assert.Equal(3, await recent.PushAsync("user-1", "a"));

        Assert.Equal(["a", "c", "b"], await recent.GetAsync("user-1"));
        Assert.True(await recent.RemoveAsync("user-1", "c"));
        Assert.Equal(["a", "b"], await recent.GetAsync("user-1"));
    }

    [Fact]
    public async Task Push_NotDeduplicated_KeepsCopiesWithinCap()
    {
        await using var provider = Build((await Servers.Redis()).ConnectionString);
        var recent = provider.GetRequiredService<IRedisDataStructures>().RecentList("searches", new RecentListOptions { Capacity = 3, Deduplicate = false });

        foreach (var item in new[] { "x", "y", "x", "x" })
        {
            await recent.PushAsync("user-1", item);
        }

        Assert.Equal(["x", "x", "y"], await recent.GetAsync("user-1"));
    }

    [Fact]
    public async Task Push_WithExpiry_SetsTtlAndOnCluster_Works()
    {
        await using var provider = Build((await Servers.Cluster()).ConnectionString);
        var recent = provider.GetRequiredService<IRedisDataStructures>().RecentList("viewed", new RecentListOptions { Capacity = 2, Expiry = TimeSpan.FromMinutes(30) });
        var connection = provider.GetRequiredService<IRedisConnection>();

        for (var user = 0; user < 10; user++)
        {
            await recent.PushAsync("user-" + user, "a");
            await recent.PushAsync("user-" + user, "b");
            await recent.PushAsync("user-" + user, "a");
            Assert.Equal(["a", "b"], await recent.GetAsync("user-" + user));
        }

        var ttl = await (await connection.GetDatabaseAsync()).KeyTimeToLiveAsync(connection.Keys.Key("recent", "viewed", "user-3"));
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(29), TimeSpan.FromMinutes(30));
        Assert.True(await recent.ClearAsync("user-3"));
    }

    [Fact]
    public async Task Options_OutOfRange_ThrowArgumentException()
    {
        await using var provider = Build((await Servers.Redis()).ConnectionString);
        var structures = provider.GetRequiredService<IRedisDataStructures>();

        Assert.Throws<ArgumentOutOfRangeException>(() => structures.RecentList("x", new RecentListOptions { Capacity = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => structures.RecentList("x", new RecentListOptions { Capacity = 100_001 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => structures.RecentList("x", new RecentListOptions { Expiry = TimeSpan.Zero }));
    }

    [Fact]
    public async Task Push_RedisStopped_ThrowsRedisConnectionException()
    {
        await using var server = await Testing.RedisServerProcess.StartAsync();
        await using var provider = Build(server.ConnectionString);
        var recent = provider.GetRequiredService<IRedisDataStructures>().RecentList("viewed", new RecentListOptions());
        var hashes = provider.GetRequiredService<IRedisDataStructures>().Hash<RedisHashTests.Profile>("profile");
        await recent.PushAsync("user-1", "a");

        await server.StopAsync();

        await Assert.ThrowsAsync<RedisConnectionException>(() => recent.PushAsync("user-1", "b"));
        await Assert.ThrowsAsync<RedisConnectionException>(() => hashes.GetAsync("1"));
    }
}

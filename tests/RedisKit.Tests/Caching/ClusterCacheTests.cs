namespace RedisKit.Tests.Caching;

public class ClusterCacheTests
{
    [Fact]
    public async Task CacheOnCluster_GetOrSetGetManyTagsAndPrefix_Work()
    {
        var cluster = await Servers.Cluster();
        var prefix = Servers.NewPrefix();
        await using var a = await CacheInstance.StartAsync(cluster.ConnectionString, prefix);
        await using var b = await CacheInstance.StartAsync(cluster.ConnectionString, prefix);

        for (var i = 0; i < 40; i++)
        {
            await a.Cache.GetOrSetAsync($"item:{i}", _ => Task.FromResult(i), tags: ["items"]);
        }

        var many = await b.Cache.GetManyAsync<int>(Enumerable.Range(0, 40).Select(i => $"item:{i}").ToArray());
        Assert.Equal(40, many.Count);

        await b.Cache.RemoveByTagAsync("items");
        // Instance a hears about it through the (sharded) backplane, well before TagCheckInterval.
        Assert.Equal(-1, await TestHost.EventuallyAsync(async () =>
        {
            var value = await a.Cache.GetOrSetAsync("item:3", _ => Task.FromResult(-1), tags: ["items"]);
            return value == -1 ? value : throw new InvalidOperationException();
        }, TimeSpan.FromSeconds(2)));

        await a.Cache.SetManyAsync(Enumerable.Range(0, 40).Select(i => KeyValuePair.Create($"plain:{i}", i)));
        var removed = await a.Cache.RemoveByPrefixAsync("plain:1");
        Assert.Equal(11, removed);
        Assert.False((await b.Cache.TryGetAsync<int>("plain:15")).Found);
        Assert.Equal(25, await b.Cache.GetAsync<int>("plain:25"));
    }
}

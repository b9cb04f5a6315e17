using RedisKit.RateLimiting;

namespace RedisKit.Tests.RateLimiting;

public class ClusterRateLimitTests
{
    [Fact]
    public async Task Cluster_MultiPolicyOnManyPartitions_OneSlotPerPartition_ExactCounts_AllKeysHaveTtl()
    {
        var cluster = await Servers.Cluster();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(cluster.ConnectionString, prefix);
        await using var _ = provider;
        RateLimitPolicy[] policies =
        [
            RateLimitPolicy.FixedWindow("fw", 100, TimeSpan.FromMinutes(5)),
            RateLimitPolicy.SlidingWindowLog("log", 5, TimeSpan.FromMinutes(5)),
            RateLimitPolicy.SlidingWindowCounter("swc", 100, TimeSpan.FromDays(1)),
            RateLimitPolicy.TokenBucket("tb", 100, 1, TimeSpan.FromDays(1)),
            RateLimitPolicy.Gcra("gcra", 100, TimeSpan.FromDays(1)),
            RateLimitPolicy.Concurrency("conc", 100, TimeSpan.FromMinutes(1)),
        ];

        var partitions = Enumerable.Range(0, 20).Select(i => "user-" + i).ToArray();
        var leases = await Task.WhenAll(partitions.SelectMany(p => Enumerable.Range(0, 8).Select(async _ => await limiter.AcquireAsync(p, policies))));

        foreach (var partition in partitions)
        {
            var state = await limiter.CheckAsync(partition, [policies[0]], cost: 0);
            Assert.Equal(95, state.Remaining); // exactly 5 admitted by the log policy, the rest consumed nothing
        }

        Assert.Equal(100, leases.Count(l => l.IsAcquired));
        Assert.Equal(120, await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.ClusterClient(), prefix));
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }
    }

    [Fact]
    public async Task Cluster_1000ConcurrentChecks_LimitOf100_ExactlyHundredAllowed()
    {
        var cluster = await Servers.Cluster();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(cluster.ConnectionString, prefix);
        await using var _ = provider;
        var policy = RateLimitPolicy.SlidingWindowLog("api", 100, TimeSpan.FromMinutes(1));
        var decisions = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => limiter.CheckAsync("tenant", [policy]).AsTask()));
        Assert.Equal(100, decisions.Count(d => d.IsAllowed));
        await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.ClusterClient(), prefix);
    }

    [Fact]
    public async Task Cluster_SinglePolicyFastPathOnManyPartitions_CoalescedBySlot_ExactCounts_AllKeysHaveTtl()
    {
        var cluster = await Servers.Cluster();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(cluster.ConnectionString, prefix);
        await using var _ = provider;
        var policy = RateLimitPolicy.FixedWindow("fw", 10, TimeSpan.FromMinutes(5));
        var partitions = Enumerable.Range(0, 20).Select(i => "user-" + i).ToArray();

        // 40 checks per partition, all at once: coalesced calls are split by hash slot, each one fast-path call.
        var decisions = await Task.WhenAll(partitions.SelectMany(p => Enumerable.Range(0, 40).Select(async _ => (p, await limiter.CheckAsync(p, [policy])))));

        foreach (var partition in partitions)
        {
            Assert.Equal(10, decisions.Count(d => d.p == partition && d.Item2.IsAllowed));
        }

        Assert.Equal(20, await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.ClusterClient(), prefix));
    }
}

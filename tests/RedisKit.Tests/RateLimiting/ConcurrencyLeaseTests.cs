using RedisKit.RateLimiting;
using StackExchange.Redis;

namespace RedisKit.Tests.RateLimiting;

public class ConcurrencyLeaseTests
{
    private static readonly RateLimitPolicy One = RateLimitPolicy.Concurrency("one", 1, TimeSpan.FromMilliseconds(600));

    [Fact]
    public async Task Lease_HolderAliveWellBeyondLeaseTtl_IsNotReclaimed()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, prefix);
        await using var _ = provider;

        var policy = RateLimitPolicy.Concurrency("alive", 1, TimeSpan.FromMilliseconds(1500));
        await using var holder = await limiter.AcquireAsync("job", [policy]);
        Assert.True(holder.IsAcquired);
        for (var i = 0; i < 9; i++)
        {
            await Task.Delay(500); // 4.5 s in all: three lease TTLs
            await using var other = await limiter.AcquireAsync("job", [policy]);
            Assert.False(other.IsAcquired);
        }

        Assert.False(holder.LeaseLostToken.IsCancellationRequested);
        await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.RedisClient(), prefix);
    }

    [Fact]
    public async Task Lease_HolderStopsHeartbeating_IsReclaimedAfterLeaseTtl()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, prefix);
        await using var _ = provider;

        var crashed = await limiter.AcquireAsync("job", [One]);
        Assert.True(crashed.IsAcquired);
        crashed.StopHeartbeatAsIfCrashed();
        await using (var immediately = await limiter.AcquireAsync("job", [One]))
        {
            Assert.False(immediately.IsAcquired);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        RedisRateLimitLease? next = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            next = await limiter.AcquireAsync("job", [One]);
            if (next.IsAcquired)
            {
                break;
            }

            await next.DisposeAsync();
            await Task.Delay(50);
        }

        Assert.NotNull(next);
        Assert.True(next!.IsAcquired);
        await next.DisposeAsync();
        await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.RedisClient(), prefix);
    }

    [Fact]
    public async Task Lease_Dispose_FreesThePermitAtOnce()
    {
        var server = await Servers.Redis();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, Servers.NewPrefix());
        await using var _ = provider;
        var policy = RateLimitPolicy.Concurrency("long", 2, TimeSpan.FromMinutes(5));

        var first = await limiter.AcquireAsync("p", [policy], cost: 2);
        Assert.True(first.IsAcquired);
        Assert.False((await limiter.AcquireAsync("p", [policy])).IsAcquired);
        await first.DisposeAsync();
        await using var second = await limiter.AcquireAsync("p", [policy], cost: 2);
        Assert.True(second.IsAcquired);
    }

    [Fact]
    public async Task Lease_ReclaimedWhileHeld_HeartbeatCancelsLeaseLostToken()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, prefix);
        await using var _ = provider;
        var policy = RateLimitPolicy.Concurrency("c", 1, TimeSpan.FromMinutes(1));

        await using var lease = await limiter.AcquireAsync("p", [policy]);
        var redis = await Servers.RedisClient();
        await redis.GetDatabase().KeyDeleteAsync((RedisKey)(prefix + ":ratelimit:{p}:c"));
        await lease.HeartbeatNowAsync();
        Assert.True(lease.LeaseLostToken.IsCancellationRequested);
    }
}

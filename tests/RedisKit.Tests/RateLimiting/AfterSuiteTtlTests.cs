using Xunit.Abstractions;

namespace RedisKit.Tests.RateLimiting;

/// <summary>
/// Runs after every other test of the assembly (<see cref="AfterSuiteFramework"/>): no rate-limit key that the whole
/// suite left on the shared redis-server or the shared cluster is without a TTL. Most rate-limit tests check their
/// own keys when they end; this catches a key written by any path that no such check covers, including keys written
/// after a test's own check (a release or heartbeat still in flight, a lease reclaimed later).
/// </summary>
[Collection(AfterSuiteFramework.Collection)]
public class AfterSuiteTtlTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AfterTheSuite_EveryRateLimitKeyOnTheSharedServers_HasATtl()
    {
        var seen = 0;
        if (Servers.RedisStarted)
        {
            var count = await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.RedisClient(), "*");
            output.WriteLine($"redis-server: {count} rate-limit keys, each with a TTL");
            seen += count;
        }

        if (Servers.ClusterStarted)
        {
            var count = await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.ClusterClient(), "*");
            output.WriteLine($"cluster: {count} rate-limit keys, each with a TTL");
            seen += count;
        }

        output.WriteLine($"{seen} rate-limit keys in all");
    }
}

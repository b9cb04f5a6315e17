using Microsoft.Extensions.DependencyInjection;
using RedisKit.RateLimiting;
using StackExchange.Redis;

namespace RedisKit.Tests.RateLimiting;

/// <summary>Builds limiters on a server and checks that every limiter key has a TTL.</summary>
internal static class RateLimitTestKit
{
    public static (ServiceProvider Provider, IRedisRateLimiter Limiter) Build(string connectionString, string prefix, Action<RedisRateLimitingOptions>? configure = null)
    {
        var provider = TestHost.Build(connectionString, prefix, b => b.AddRateLimiting(configure));
        return (provider, provider.GetRequiredService<IRedisRateLimiter>());
    }

    /// <summary>
    /// SCANs every primary for the prefix's rate-limit keys and asserts each has a TTL; returns how many distinct keys
    /// were seen. Keys are counted once: on the shared test cluster this count was sometimes exactly double (the same
    /// keys seen through two listed servers), which made the count flaky though every key had a TTL.
    /// </summary>
    public static async Task<int> AssertAllKeysHaveTtlAsync(IConnectionMultiplexer multiplexer, string prefix)
    {
        var seen = new HashSet<RedisKey>();
        var database = multiplexer.GetDatabase();
        foreach (var server in multiplexer.GetServers())
        {
            if (server.IsReplica || !server.IsConnected)
            {
                continue;
            }

            await foreach (var key in server.KeysAsync(pattern: prefix + ":ratelimit:*", pageSize: 500))
            {
                var ttl = await database.KeyTimeToLiveAsync(key);
                if (ttl is null && !await database.KeyExistsAsync(key))
                {
                    continue; // expired between SCAN and TTL
                }

                Assert.True(ttl is not null, $"Rate limit key {key} has no TTL.");
                seen.Add(key);
            }
        }

        return seen.Count;
    }
}

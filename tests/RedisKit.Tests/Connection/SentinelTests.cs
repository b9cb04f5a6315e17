using Microsoft.Extensions.DependencyInjection;
using RedisKit.Testing;

namespace RedisKit.Tests.Connection;

public class SentinelTests
{
    [Fact]
    public async Task Sentinel_ConnectsToPrimary_AndFollowsFailover()
    {
        await using var deployment = await RedisSentinelProcess.StartAsync();
        await using var provider = TestHost.Build("unused:1", options: o =>
        {
            o.ConnectionString = null;
            o.Sentinel = new RedisSentinelOptions { ServiceName = deployment.ServiceName, Endpoints = deployment.SentinelEndpoints.ToList() };
        });
        var connection = provider.GetRequiredService<IRedisConnection>();

        var capabilities = await connection.GetCapabilitiesAsync();
        var database = await connection.GetDatabaseAsync();
        await database.StringSetAsync("before-failover", "1");

        Assert.Equal(RedisTopology.Sentinel, capabilities.Topology);
        Assert.Equal(RedisEngine.Redis, capabilities.Engine);

        await deployment.Primary.KillAsync();
        var written = await TestHost.EventuallyAsync(async () =>
        {
            await database.StringSetAsync("after-failover", "2");
            return (string?)await database.StringGetAsync("after-failover");
        }, TimeSpan.FromSeconds(40));

        Assert.Equal("2", written);
        Assert.StartsWith("master", await deployment.Replica.CliAsync("ROLE"), StringComparison.Ordinal);
    }
}

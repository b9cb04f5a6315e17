using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RedisKit.Testing;

namespace RedisKit.Tests.Diagnostics;

public class HealthAndStatsTests
{
    private static RedisHealthCheck Check(IServiceProvider provider, TimeSpan degraded, TimeSpan timeout) =>
        new(provider.GetRequiredService<IRedisConnection>(), Options.Create(new RedisHealthCheckOptions { DegradedThreshold = degraded, Timeout = timeout }));

    [Fact]
    public async Task HealthCheck_RunningServer_IsHealthyWithLatency()
    {
        var server = await Servers.Redis();
        await using var provider = TestHost.Build(server.ConnectionString);

        var result = await Check(provider, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)).CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.True((double)result.Data["latency_seconds"] < 1);
    }

    [Fact]
    public async Task HealthCheck_StoppedServer_IsUnhealthy_ThenHealthyAfterRestart()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = TestHost.Build(server.ConnectionString);
        var check = Check(provider, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(500));
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);

        await server.StopAsync();
        var down = await TestHost.EventuallyAsync(async () =>
        {
            var r = await check.CheckHealthAsync(new HealthCheckContext());
            return r.Status == HealthStatus.Unhealthy ? r : throw new InvalidOperationException(r.Status.ToString());
        }, TimeSpan.FromSeconds(5));
        Assert.Equal(HealthStatus.Unhealthy, down.Status);

        await server.StartAgainAsync();
        var up = await TestHost.EventuallyAsync(async () =>
        {
            var r = await check.CheckHealthAsync(new HealthCheckContext());
            return r.Status == HealthStatus.Healthy ? r : throw new InvalidOperationException(r.Status.ToString());
        }, TimeSpan.FromSeconds(10));
        Assert.Equal(HealthStatus.Healthy, up.Status);
    }

    [Fact]
    public async Task HealthCheck_SlowServer_IsDegraded_HungServer_IsUnhealthy()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = TestHost.Build(server.ConnectionString, options: o => o.CommandTimeout = TimeSpan.FromSeconds(5));
        var check = Check(provider, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(3));
        await check.CheckHealthAsync(new HealthCheckContext());

        // Slow: the server is frozen for ~400 ms while the PING waits.
        server.Pause();
        var slow = check.CheckHealthAsync(new HealthCheckContext());
        await Task.Delay(400);
        server.Resume();
        Assert.Equal(HealthStatus.Degraded, (await slow).Status);

        // Hung: frozen for longer than the check's timeout.
        var hungCheck = Check(provider, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(300));
        server.Pause();
        try
        {
            var hung = await hungCheck.CheckHealthAsync(new HealthCheckContext());
            Assert.Equal(HealthStatus.Unhealthy, hung.Status);
        }
        finally
        {
            server.Resume();
        }
    }

    [Fact]
    public async Task Stats_AfterHitsAndMisses_ReportsHitRateMemoryAndClients()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = TestHost.Build(server.ConnectionString);
        var database = await provider.GetRequiredService<IRedisConnection>().GetDatabaseAsync();
        var before = Assert.Single((await provider.GetRequiredService<RedisStats>().GetAsync()).Nodes);
        await database.StringSetAsync("a", "1");
        for (var i = 0; i < 3; i++)
        {
            await database.StringGetAsync("a");
        }

        await database.StringGetAsync("missing");

        var stats = await provider.GetRequiredService<RedisStats>().GetAsync();

        var node = Assert.Single(stats.Nodes);
        Assert.Equal(3, node.KeyspaceHits - before.KeyspaceHits);
        Assert.Equal(1, node.KeyspaceMisses - before.KeyspaceMisses);
        Assert.Equal((double)node.KeyspaceHits / (node.KeyspaceHits + node.KeyspaceMisses), node.HitRate);
        Assert.True(node.UsedMemoryBytes > 0);
        Assert.True(node.ConnectedClients >= 1);
        Assert.Equal(1, stats.Keys);
    }

    [Fact]
    public async Task Stats_Cluster_ReportsEveryNode()
    {
        var cluster = await Servers.Cluster();
        await using var provider = TestHost.Build(cluster.ConnectionString);

        var stats = await provider.GetRequiredService<RedisStats>().GetAsync();

        Assert.Equal(6, stats.Nodes.Count);
        Assert.Equal(3, stats.Nodes.Count(n => !n.IsReplica));
    }
}

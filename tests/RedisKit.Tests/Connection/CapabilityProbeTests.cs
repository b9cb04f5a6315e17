using Microsoft.Extensions.DependencyInjection;

namespace RedisKit.Tests.Connection;

public class CapabilityProbeTests
{
    [Fact]
    public async Task Probe_RedisServer_ReportsRedisStandaloneWithStreams()
    {
        var server = await Servers.Redis();
        await using var provider = TestHost.Build(server.ConnectionString);

        var capabilities = await provider.GetRequiredService<IRedisConnection>().GetCapabilitiesAsync();

        Assert.Equal(RedisEngine.Redis, capabilities.Engine);
        Assert.Equal(RedisTopology.Standalone, capabilities.Topology);
        Assert.True(capabilities.Version >= new Version(6, 2));
        Assert.True(capabilities.Has(RedisFeatures.Streams | RedisFeatures.AtomicLua | RedisFeatures.GetEx | RedisFeatures.ZAddGreaterLess | RedisFeatures.KeyspaceNotifications | RedisFeatures.ClientTracking | RedisFeatures.ShardedPubSub));

        // WITHSCORE is probed from the server's reply, so it must agree with the version (7.2+).
        Assert.Equal(capabilities.Version >= new Version(7, 2), capabilities.Has(RedisFeatures.ZRankWithScore));
    }

    [Fact]
    public async Task Probe_Cluster_ReportsClusterTopologyWithShardedPubSub()
    {
        var cluster = await Servers.Cluster();
        await using var provider = TestHost.Build(cluster.ConnectionString);

        var capabilities = await provider.GetRequiredService<IRedisConnection>().GetCapabilitiesAsync();

        Assert.Equal(RedisEngine.Redis, capabilities.Engine);
        Assert.Equal(RedisTopology.Cluster, capabilities.Topology);
        Assert.True(capabilities.Has(RedisFeatures.ShardedPubSub | RedisFeatures.Streams));
    }

    [Fact]
    public async Task Probe_Garnet_ReportsGarnetWithoutStreamsOrNotifications()
    {
        var garnet = Servers.Garnet();
        await using var provider = TestHost.Build(garnet.ConnectionString);

        var capabilities = await provider.GetRequiredService<IRedisConnection>().GetCapabilitiesAsync();

        Assert.Equal(RedisEngine.Garnet, capabilities.Engine);
        Assert.False(capabilities.Has(RedisFeatures.Streams));
        Assert.False(capabilities.Has(RedisFeatures.KeyspaceNotifications));
        Assert.False(capabilities.Has(RedisFeatures.ShardedPubSub));
        Assert.True(capabilities.Has(RedisFeatures.Lua));
        Assert.False(capabilities.Has(RedisFeatures.AtomicLua));
        Assert.Contains(capabilities.DescribeLimitations(), l => l.Contains("O(N)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Probe_GarnetDeclaredTransactional_ReportsAtomicLua()
    {
        var garnet = Servers.Garnet();
        await using var provider = TestHost.Build(garnet.ConnectionString, options: o => o.GarnetLuaTransactionMode = true);

        var capabilities = await provider.GetRequiredService<IRedisConnection>().GetCapabilitiesAsync();

        Assert.True(capabilities.Has(RedisFeatures.AtomicLua));
    }

    [Fact]
    public async Task Require_MissingFeature_ThrowsNamingCapabilityAndFeature()
    {
        var garnet = Servers.Garnet();
        await using var provider = TestHost.Build(garnet.ConnectionString);
        var capabilities = await provider.GetRequiredService<IRedisConnection>().GetCapabilitiesAsync();

        var ex = Assert.Throws<RedisKitCapabilityException>(() => capabilities.Require(RedisFeatures.Streams, "stream consumer"));

        Assert.Contains("stream consumer", ex.Message, StringComparison.Ordinal);
        Assert.Contains("streams", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Garnet", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("redis_version:7.2.4|redis_mode:standalone", RedisEngine.Redis, "7.2.4")]
    [InlineData("redis_version:7.2.4|server_name:valkey|valkey_version:8.0.1|redis_mode:standalone", RedisEngine.Valkey, "8.0.1")]
    [InlineData("redis_version:7.4.0|garnet_version:1.0.80", RedisEngine.Garnet, "1.0.80")]
    [InlineData("redis_version:6.0.0", RedisEngine.Other, "6.0.0")]
    [InlineData("", RedisEngine.Unknown, "0.0")]
    public void IdentifyEngine_InfoFields_NamesEngineAndVersion(string info, RedisEngine engine, string version)
    {
        var fields = info.Split('|', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split(':', 2))
            .ToDictionary(p => p[0], p => p[1]);

        var (found, foundVersion) = CapabilityProbe.IdentifyEngine(fields);

        Assert.Equal(engine, found);
        Assert.Equal(Version.Parse(version), foundVersion);
    }
}

public class FeatureRequirementTests
{
    [Fact]
    public async Task HostStart_RequiredFeatureMissing_FailsNamingCapability()
    {
        var garnet = Servers.Garnet();
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddRedisKit(o =>
        {
            o.ConnectionString = garnet.ConnectionString;
            o.KeyPrefix = Servers.NewPrefix();
        }).RequireFeatures(RedisFeatures.Streams, "stream consumer");
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<RedisKitCapabilityException>(() => host.StartAsync());

        Assert.Equal("stream consumer", ex.Capability);
        Assert.Equal(RedisFeatures.Streams, ex.Missing);
    }

    [Fact]
    public async Task HostStart_RequiredFeaturePresent_Starts()
    {
        var server = await Servers.Redis();
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddRedisKit(o =>
        {
            o.ConnectionString = server.ConnectionString;
            o.KeyPrefix = Servers.NewPrefix();
        }).RequireFeatures(RedisFeatures.Streams | RedisFeatures.AtomicLua, "stream consumer");
        using var host = builder.Build();

        await host.StartAsync();
        await host.StopAsync();
    }
}

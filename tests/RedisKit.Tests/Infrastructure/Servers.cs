using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests;

/// <summary>
/// Servers shared by the whole test run, started on first use: one redis-server, one 6-node cluster,
/// one embedded Garnet. Tests isolate by key prefix (<see cref="NewPrefix"/>), never by FLUSHALL, so
/// test classes run in parallel. Tests that stop or pause a server start a private one instead.
/// </summary>
public static class Servers
{
    private static readonly Lazy<Task<RedisServerProcess>> SharedRedis = new(() => RedisServerProcess.StartAsync());
    private static readonly Lazy<Task<RedisClusterProcess>> SharedCluster = new(() => RedisClusterProcess.StartAsync());
    private static readonly Lazy<EmbeddedGarnet> SharedGarnet = new(() => EmbeddedGarnet.Start());
    private static readonly Lazy<Task<ConnectionMultiplexer>> RedisMultiplexer = new(async () =>
        await ConnectionMultiplexer.ConnectAsync((await Redis()).ConnectionString));
    private static readonly Lazy<Task<ConnectionMultiplexer>> ClusterMultiplexer = new(async () =>
        await ConnectionMultiplexer.ConnectAsync((await Cluster()).ConnectionString));

    /// <summary>The shared redis-server.</summary>
    public static Task<RedisServerProcess> Redis() => SharedRedis.Value;

    /// <summary>The shared 6-node cluster.</summary>
    public static Task<RedisClusterProcess> Cluster() => SharedCluster.Value;

    /// <summary>The shared embedded Garnet.</summary>
    public static EmbeddedGarnet Garnet() => SharedGarnet.Value;

    /// <summary>A multiplexer on the shared redis-server, for arranging and asserting.</summary>
    public static Task<ConnectionMultiplexer> RedisClient() => RedisMultiplexer.Value;

    /// <summary>A multiplexer on the shared cluster.</summary>
    public static Task<ConnectionMultiplexer> ClusterClient() => ClusterMultiplexer.Value;

    /// <summary>Whether any test has started the shared redis-server.</summary>
    public static bool RedisStarted => SharedRedis.IsValueCreated;

    /// <summary>Whether any test has started the shared cluster.</summary>
    public static bool ClusterStarted => SharedCluster.IsValueCreated;

    /// <summary>A key prefix no other test uses.</summary>
    public static string NewPrefix() => "t" + Guid.NewGuid().ToString("N")[..12];
}

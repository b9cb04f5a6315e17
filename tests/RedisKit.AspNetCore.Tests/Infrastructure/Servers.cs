using RedisKit.Testing;

namespace RedisKit.AspNetCore.Tests;

/// <summary>Servers shared by the run (started on first use); tests isolate by key prefix.</summary>
public static class Servers
{
    private static readonly Lazy<Task<RedisServerProcess>> SharedRedis = new(() => RedisServerProcess.StartAsync());
    private static readonly Lazy<Task<RedisClusterProcess>> SharedCluster = new(() => RedisClusterProcess.StartAsync());

    public static Task<RedisServerProcess> Redis() => SharedRedis.Value;

    public static Task<RedisClusterProcess> Cluster() => SharedCluster.Value;

    public static string NewPrefix() => "t" + Guid.NewGuid().ToString("N")[..12];
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Connection;

public class TlsAndAclTests
{
    [Fact]
    public async Task Rediss_WithTrustedCa_ConnectsOverTls_AndWithoutItIsRefused()
    {
        using var certificates = TestCertificates.Create();
        var tlsPort = RedisBinaries.FreePort();
        await using var server = await RedisServerProcess.StartAsync(certificates.RedisServerArguments(tlsPort));
        await using (var provider = TestHost.Build($"rediss://127.0.0.1:{tlsPort}", options: o => o.TlsCaCertificatePath = certificates.CaPath))
        {
            var connection = provider.GetRequiredService<IRedisConnection>();
            var database = await connection.GetDatabaseAsync();
            await database.StringSetAsync("over-tls", "yes");

            Assert.Equal("yes", (string?)await database.StringGetAsync("over-tls"));
            Assert.Equal(RedisEngine.Redis, (await connection.GetCapabilitiesAsync()).Engine);
        }

        // Without trusting the private CA the certificate is rejected: validation is not switched off.
        await using var untrusted = TestHost.Build($"rediss://127.0.0.1:{tlsPort}", options: o => o.ConnectTimeout = TimeSpan.FromSeconds(1));
        var refused = await untrusted.GetRequiredService<IRedisConnection>().GetMultiplexerAsync();
        Assert.False(refused.IsConnected);
    }

    [Fact]
    public async Task AclUserDeniedKeysFlushAndConfig_CanUseTheToolkit()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await server.CliAsync("ACL", "SETUSER", "app", "on", ">s3cret", "~*", "&*", "+@all", "-keys", "-flushall", "-flushdb", "-config");
        var prefix = Servers.NewPrefix();
        await using var provider = TestHost.Build($"redis://app:s3cret@{server.EndPoint}", prefix, b => b.AddCaching());
        var connection = provider.GetRequiredService<IRedisConnection>();

        var capabilities = await connection.GetCapabilitiesAsync();
        var stats = await provider.GetRequiredService<RedisStats>().GetAsync();
        var health = await new RedisHealthCheck(connection, Options.Create(new RedisHealthCheckOptions())).CheckHealthAsync(new HealthCheckContext());
        var cache = provider.GetRequiredService<IRedisCache>();
        await cache.SetAsync("a:1", 1, tags: ["t"]);
        var value = await cache.GetOrSetAsync("a:2", _ => Task.FromResult(2), tags: ["t"]);
        await cache.RemoveByTagAsync("t");
        var removed = await cache.RemoveByPrefixAsync("a:");

        Assert.Equal(RedisEngine.Redis, capabilities.Engine);
        Assert.Single(stats.Nodes);
        Assert.Equal(HealthStatus.Healthy, health.Status);
        Assert.Equal(2, value);
        Assert.Equal(2, removed);

        // The user really is denied those commands.
        var database = await connection.GetDatabaseAsync();
        var denied = await Assert.ThrowsAsync<RedisServerException>(() => database.ExecuteAsync("KEYS", "*"));
        Assert.Contains("NOPERM", denied.Message, StringComparison.Ordinal);
    }
}

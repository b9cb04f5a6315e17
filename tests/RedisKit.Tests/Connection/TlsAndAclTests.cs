using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Connection;

public class TlsAndAclTests
{
    /// <summary>A CA and a server certificate for 127.0.0.1 signed by it, written as PEM files.</summary>
    private static (string Directory, string CaPem, string CertPem, string KeyPem) CreateCertificates()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("rediskit-tls-").FullName;
        var now = DateTimeOffset.UtcNow;
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=RedisKit Test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));

        using var serverKey = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = request.Create(ca, now.AddDays(-1), now.AddDays(1), RandomNumberGenerator.GetBytes(8));

        var caPem = Path.Combine(directory, "ca.pem");
        var certPem = Path.Combine(directory, "server.pem");
        var keyPem = Path.Combine(directory, "server.key");
        File.WriteAllText(caPem, ca.ExportCertificatePem());
        File.WriteAllText(certPem, server.ExportCertificatePem());
        File.WriteAllText(keyPem, serverKey.ExportPkcs8PrivateKeyPem());
        return (directory, caPem, certPem, keyPem);
    }

    [Fact]
    public async Task Rediss_WithTrustedCa_ConnectsOverTls_AndWithoutItIsRefused()
    {
        var (directory, ca, cert, key) = CreateCertificates();
        var tlsPort = RedisBinaries.FreePort();
        await using var server = await RedisServerProcess.StartAsync(
        [
            "--tls-port", tlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "no",
        ]);
        try
        {
            await using (var provider = TestHost.Build($"rediss://127.0.0.1:{tlsPort}", options: o => o.TlsCaCertificatePath = ca))
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
        finally
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
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

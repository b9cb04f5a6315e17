using System.Globalization;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.AspNetCore.Tests.Security;

/// <summary>
/// One private redis-server with a plain port and a TLS port (certificates from a CA generated here), the
/// <c>default</c> user switched off, and three users:
/// <list type="bullet">
/// <item><c>app</c>: everything except <c>KEYS</c>, <c>FLUSHALL</c>, <c>FLUSHDB</c> and <c>CONFIG</c> (the ACL);</item>
/// <item><c>strict</c>: everything except the whole <c>@dangerous</c> category, which also takes away <c>INFO</c>,
/// <c>ROLE</c>, <c>CLIENT LIST/KILL</c>, <c>SORT</c> and every <c>CLUSTER</c> admin command (a common production ACL);</item>
/// <item><c>admin</c>: all commands, for the test's own arrange and assert only.</item>
/// </list>
/// </summary>
public sealed class SecureRedisFixture : IAsyncLifetime
{
    public const string AppUser = "app";
    public const string StrictUser = "strict";
    private const string Password = "acl-pass-2026";
    private const string AdminPassword = "admin-pass-2026";

    private RedisServerProcess? _server;

    public TestCertificates Certificates { get; } = TestCertificates.Create();

    public int TlsPort { get; } = RedisBinaries.FreePort();

    public RedisServerProcess Server => _server!;

    /// <summary>A multiplexer signed in as <c>admin</c> (the test's eyes; never used by the code under test).</summary>
    public ConnectionMultiplexer Admin { get; private set; } = null!;

    /// <summary><c>redis://user:password@host:port</c> on the plain port.</summary>
    public string Tcp(string user) => $"redis://{user}:{Password}@{Server.EndPoint}";

    /// <summary><c>rediss://user:password@127.0.0.1:tlsPort</c>; the client must trust <see cref="TestCertificates.CaPath"/>.</summary>
    public string Tls(string user) => $"rediss://{user}:{Password}@127.0.0.1:{TlsPort.ToString(CultureInfo.InvariantCulture)}";

    public async Task InitializeAsync()
    {
        _server = await RedisServerProcess.StartAsync(Certificates.RedisServerArguments(TlsPort));
        await _server.CliAsync("ACL", "SETUSER", "admin", "on", ">" + AdminPassword, "~*", "&*", "+@all");
        await _server.CliAsync("ACL", "SETUSER", AppUser, "on", ">" + Password, "~*", "&*", "+@all", "-keys", "-flushall", "-flushdb", "-config");
        await _server.CliAsync("ACL", "SETUSER", StrictUser, "on", ">" + Password, "~*", "&*", "+@all", "-@dangerous");
        await _server.CliAsync("ACL", "SETUSER", "default", "off", "nopass", "-@all"); // from here on the CLI (default user) is locked out too
        Admin = await ConnectionMultiplexer.ConnectAsync($"{Server.EndPoint},user=admin,password={AdminPassword},allowAdmin=true");
    }

    /// <summary>The commands the server refused (<c>ACL LOG</c>), as "user command" lines, then clears the log.</summary>
    public async Task<IReadOnlyList<string>> TakeAclDenialsAsync()
    {
        var server = Admin.GetServer(Admin.GetEndPoints()[0]);
        var log = (RedisResult[])(await server.ExecuteAsync("ACL", "LOG", "128"))!;
        var lines = new List<string>();
        foreach (var entry in log)
        {
            var fields = (RedisResult[])entry!;
            string? user = null, @object = null;
            for (var i = 0; i + 1 < fields.Length; i += 2)
            {
                switch ((string?)fields[i])
                {
                    case "username": user = (string?)fields[i + 1]; break;
                    case "object": @object = (string?)fields[i + 1]; break;
                }
            }

            lines.Add($"{user} {@object}");
        }

        await server.ExecuteAsync("ACL", "LOG", "RESET");
        return lines;
    }

    public async Task DisposeAsync()
    {
        if (Admin is not null)
        {
            await Admin.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Certificates.Dispose();
    }
}

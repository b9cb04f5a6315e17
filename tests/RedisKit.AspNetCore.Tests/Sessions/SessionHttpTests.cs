using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.Testing;
using static RedisKit.AspNetCore.Tests.Sessions.SessionApps;

namespace RedisKit.AspNetCore.Tests.Sessions;

public class SessionHttpTests
{
    private const string CookieName = ".AspNetCore.Cookies";

    private static async Task<HttpResponseMessage> SendAsync(TestApp app, HttpRequestMessage request)
    {
        using var client = NewClient(app);
        return await client.SendAsync(request);
    }

    private static async Task<string> LoginAsync(TestApp app, string user)
    {
        var response = await SendAsync(app, Request(HttpMethod.Post, $"/login/{user}"));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadAsStringAsync()).Trim('"');
    }

    [Fact]
    public async Task Token_SessionCreatedOnA_WorksOnB_RevokeAllOnA_EffectiveOnBNextRequest()
    {
        var redis = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var a = await StartTokenAppAsync(redis.ConnectionString, prefix);
        await using var b = await StartTokenAppAsync(redis.ConnectionString, prefix);

        var phone = await LoginAsync(a, "alice");
        var laptop = await LoginAsync(a, "alice");
        var me = await SendAsync(b, Request(HttpMethod.Get, "/api/me", bearer: phone));
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal("alice", await me.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(b, Request(HttpMethod.Get, "/api/me", header: laptop))).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(a, Request(HttpMethod.Post, "/api/logout-all", bearer: phone))).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(b, Request(HttpMethod.Get, "/api/me", bearer: phone))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(b, Request(HttpMethod.Get, "/api/me", bearer: laptop))).StatusCode);
    }

    [Fact]
    public async Task Token_LogoutOthers_KeepsCurrentSessionOnly()
    {
        var redis = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var a = await StartTokenAppAsync(redis.ConnectionString, prefix);
        await using var b = await StartTokenAppAsync(redis.ConnectionString, prefix);
        var current = await LoginAsync(a, "bob");
        var other = await LoginAsync(b, "bob");

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(a, Request(HttpMethod.Post, "/api/logout-others", bearer: current))).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(b, Request(HttpMethod.Get, "/api/me", bearer: current))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(b, Request(HttpMethod.Get, "/api/me", bearer: other))).StatusCode);
    }

    [Fact]
    public async Task Token_Rotate_InvalidatesOldIdOnEveryInstance()
    {
        var redis = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var a = await StartTokenAppAsync(redis.ConnectionString, prefix);
        await using var b = await StartTokenAppAsync(redis.ConnectionString, prefix);
        var old = await LoginAsync(a, "carol");

        var rotated = await SendAsync(a, Request(HttpMethod.Post, "/api/rotate", bearer: old));
        var fresh = (await rotated.Content.ReadAsStringAsync()).Trim('"');

        Assert.NotEqual(old, fresh);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(b, Request(HttpMethod.Get, "/api/me", bearer: old))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(b, Request(HttpMethod.Get, "/api/me", bearer: fresh))).StatusCode);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("abc", null)]
    [InlineData(null, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAAAAAAAAAAAAAA%AAAAAAAAAAAAAAA", null)]
    [InlineData(null, "AAAAAAAAAAAAAAAA:{AAAAAAAAAAAAA}")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", null)]
    public async Task Token_MalformedOrUnknownId_401_AndNoKeyWritten(string? bearer, string? header)
    {
        var redis = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var app = await StartTokenAppAsync(redis.ConnectionString, prefix);
        await LoginAsync(app, "dave");
        var before = await CountKeysAsync(redis.ConnectionString, prefix);

        var response = await SendAsync(app, Request(HttpMethod.Get, "/api/me", bearer: bearer, header: header));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(before, await CountKeysAsync(redis.ConnectionString, prefix));
    }

    [Fact]
    public async Task Token_RedisStopped_503WithRetryAfter_NotLogout()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var app = await StartTokenAppAsync(server.ConnectionString, Servers.NewPrefix());
        var id = await LoginAsync(app, "erin");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, Request(HttpMethod.Get, "/api/me", bearer: id))).StatusCode);

        await server.StopAsync();
        var response = await SendAsync(app, Request(HttpMethod.Get, "/api/me", bearer: id));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Token_LoadAndTouch_IsOneRedisCommandPerRequest()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var app = await StartTokenAppAsync(server.ConnectionString, Servers.NewPrefix());
        var id = await LoginAsync(app, "frank");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, Request(HttpMethod.Get, "/api/me", bearer: id))).StatusCode); // script cached
        await server.CliAsync("CONFIG", "RESETSTAT");

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, Request(HttpMethod.Get, "/api/me", bearer: id))).StatusCode);
        }

        // commandstats also counts the commands a script runs: each request must be exactly one EVALSHA
        // from the client, whose script runs HGETALL, TIME, HSET and PEXPIREAT once each, and nothing else.
        var stats = ParseCommandStats(await server.CliAsync("INFO", "commandstats"));
        var data = stats.Where(s => !IsHousekeeping(s.Key)).ToDictionary(s => s.Key, s => s.Value);
        Assert.Equal(
            new Dictionary<string, long> { ["evalsha"] = 20, ["hgetall"] = 20, ["time"] = 20, ["hset"] = 20, ["pexpireat"] = 20 },
            data);
    }

    [Fact]
    public async Task Cookie_SignInOnA_WorksOnB_SignInAgainRotates_SignOutEverywhereEffectiveOnB()
    {
        var redis = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var keys = Directory.CreateTempSubdirectory("rediskit-dp-");
        await using var a = await StartCookieAppAsync(redis.ConnectionString, prefix, keys);
        await using var b = await StartCookieAppAsync(redis.ConnectionString, prefix, keys);
        var store = a.Services.GetRequiredService<ISessionStore>();

        var signIn = await SendAsync(a, Request(HttpMethod.Post, "/signin/gina"));
        var (first, setCookie) = Cookie(signIn, CookieName);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", setCookie, StringComparison.OrdinalIgnoreCase); // not Development
        Assert.Contains("samesite=lax", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.True(first.Length < 600, "the cookie should carry only the protected session id, not the ticket");
        Assert.Equal("gina", await (await SendAsync(b, Request(HttpMethod.Get, "/me", cookie: first))).Content.ReadAsStringAsync());
        var firstSession = Assert.Single(await store.ListAsync("gina"));
        Assert.Equal("SessionTests/1.0", firstSession.ClientDescription);

        // Signing in again with the old cookie creates a fresh id and removes the old one (fixation defence).
        var (second, _) = Cookie(await SendAsync(a, Request(HttpMethod.Post, "/signin/gina", cookie: first)), CookieName);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(b, Request(HttpMethod.Get, "/me", cookie: first))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(b, Request(HttpMethod.Get, "/me", cookie: second))).StatusCode);
        Assert.NotEqual(firstSession.Id, Assert.Single(await store.ListAsync("gina")).Id);

        var (otherDevice, _) = Cookie(await SendAsync(b, Request(HttpMethod.Post, "/signin/gina")), CookieName);
        Assert.Equal(2, (await store.ListAsync("gina")).Count);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(a, Request(HttpMethod.Post, "/signout-everywhere", cookie: second))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(b, Request(HttpMethod.Get, "/me", cookie: otherDevice))).StatusCode);
        Assert.Empty(await store.ListAsync("gina"));
    }

    [Fact]
    public async Task Cookie_SignOut_DestroysServerSession()
    {
        var redis = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var keys = Directory.CreateTempSubdirectory("rediskit-dp-");
        await using var app = await StartCookieAppAsync(redis.ConnectionString, prefix, keys);
        var store = app.Services.GetRequiredService<ISessionStore>();
        var (cookie, _) = Cookie(await SendAsync(app, Request(HttpMethod.Post, "/signin/hank")), CookieName);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, Request(HttpMethod.Post, "/signout", cookie: cookie))).StatusCode);

        Assert.Empty(await store.ListAsync("hank"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(app, Request(HttpMethod.Get, "/me", cookie: cookie))).StatusCode);
    }

    [Fact]
    public async Task Cookie_RedisStopped_503WithRetryAfter_NotSilentLogout()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var keys = Directory.CreateTempSubdirectory("rediskit-dp-");
        await using var app = await StartCookieAppAsync(server.ConnectionString, Servers.NewPrefix(), keys);
        var (cookie, _) = Cookie(await SendAsync(app, Request(HttpMethod.Post, "/signin/ivy")), CookieName);

        await server.StopAsync();
        var response = await SendAsync(app, Request(HttpMethod.Get, "/me", cookie: cookie));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter?.Delta);
        Assert.False(response.Headers.Contains("Set-Cookie"), "a Redis outage must not clear the cookie");
    }

    [Fact]
    public async Task UseSession_OnRedisKitDistributedCache_SharedAcrossInstances()
    {
        var redis = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var keys = Directory.CreateTempSubdirectory("rediskit-dp-");
        await using var a = await StartUseSessionAppAsync(redis.ConnectionString, prefix, keys);
        await using var b = await StartUseSessionAppAsync(redis.ConnectionString, prefix, keys);

        var (cookie, _) = Cookie(await SendAsync(a, Request(HttpMethod.Post, "/cart/apple")), ".AspNetCore.Session");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(b, Request(HttpMethod.Post, "/cart/pear", cookie: cookie))).StatusCode);

        Assert.Equal("apple;pear;", await (await SendAsync(a, Request(HttpMethod.Get, "/cart", cookie: cookie))).Content.ReadAsStringAsync());
        Assert.True(await CountKeysAsync(redis.ConnectionString, prefix) >= 1);
    }

    [Fact]
    public async Task Http_CapturedLogs_NeverContainSessionIds()
    {
        var redis = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var capture = new CapturingLoggerProvider();
        await using var app = await StartTokenAppAsync(redis.ConnectionString, prefix, capture);
        var ids = new List<string> { await LoginAsync(app, "jo"), await LoginAsync(app, "jo") };
        await SendAsync(app, Request(HttpMethod.Get, "/api/me", bearer: ids[0]));
        var rotated = await SendAsync(app, Request(HttpMethod.Post, "/api/rotate", bearer: ids[1]));
        ids.Add((await rotated.Content.ReadAsStringAsync()).Trim('"'));
        await SendAsync(app, Request(HttpMethod.Get, "/api/me", bearer: ids[1]));
        await SendAsync(app, Request(HttpMethod.Get, "/api/me", bearer: "malformed-id"));
        await SendAsync(app, Request(HttpMethod.Post, "/api/logout-all", bearer: ids[2]));

        Assert.NotEmpty(capture.Lines);
        foreach (var id in ids)
        {
            Assert.DoesNotContain(capture.Lines, line => line.Contains(id, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Token_OnSixNodeCluster_WorksAcrossInstances()
    {
        var cluster = await Servers.Cluster();
        var prefix = Servers.NewPrefix();
        await using var a = await StartTokenAppAsync(cluster.ConnectionString, prefix);
        await using var b = await StartTokenAppAsync(cluster.ConnectionString, prefix);

        for (var i = 0; i < 4; i++)
        {
            var user = $"cluster-{i}";
            var id = await LoginAsync(a, user);
            Assert.Equal(user, await (await SendAsync(b, Request(HttpMethod.Get, "/api/me", bearer: id))).Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(b, Request(HttpMethod.Post, "/api/logout-all", bearer: id))).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(a, Request(HttpMethod.Get, "/api/me", bearer: id))).StatusCode);
        }
    }

    [Fact]
    public async Task UseRedisKitSessions_WithoutAddSessions_FailsFastWithClearMessage()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => TestApp.StartAsync(
            b => b.Services.AddRedisKit(o => o.ConnectionString = "127.0.0.1:1"),
            app => app.UseRedisKitSessions()));

        Assert.Contains("AddSessions()", ex.Message, StringComparison.Ordinal);
    }

    private static Dictionary<string, long> ParseCommandStats(string info)
    {
        var stats = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in info.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!line.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                continue;
            }

            var name = line["cmdstat_".Length..line.IndexOf(':', StringComparison.Ordinal)];
            var calls = line[(line.IndexOf("calls=", StringComparison.Ordinal) + 6)..];
            stats[name] = long.Parse(calls[..calls.IndexOf(',', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
        }

        return stats;
    }

    private static bool IsHousekeeping(string command) =>
        command is "info" or "config|resetstat" or "config" or "ping" or "echo" or "client|setname" or "client|setinfo" or "client" or "cluster" or "subscribe" or "command" or "select" or "hello";
}

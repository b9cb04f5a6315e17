using System.Net;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.AspNetCore.RateLimiting;
using RedisKit.RateLimiting;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.AspNetCore.Tests.RateLimiting;

public class RedisRateLimiterHttpTests
{
    private static Task<TestApp> StartAppAsync(string connectionString, string prefix, Action<RateLimiterOptions> limiter, Action<WebApplication>? endpoints = null) =>
        TestApp.StartAsync(
            builder =>
            {
                builder.Services.AddRedisKit(o =>
                {
                    o.ConnectionString = connectionString;
                    o.KeyPrefix = prefix;
                    // A 500 ms stall of a loaded machine must not turn a check into the failure mode (fail-open, with the
                    // full budget in the headers); the outage test still fails at once.
                    OutageReadyOptions.Apply(o);
                }).AddRateLimiting();
                builder.Services.AddRateLimiter(limiter);
            },
            app =>
            {
                app.UseRateLimiter();
                if (endpoints is null)
                {
                    app.MapGet("/limited", () => "ok").RequireRateLimiting("test");
                }
                else
                {
                    endpoints(app);
                }
            });

    private static async Task AssertAllKeysHaveTtlAsync(string connectionString, string prefix)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        var database = redis.GetDatabase();
        var seen = 0;
        await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: prefix + ":ratelimit:*"))
        {
            var ttl = await database.KeyTimeToLiveAsync(key);
            Assert.True(ttl is not null || !await database.KeyExistsAsync(key), $"{key} has no TTL");
            seen++;
        }

        Assert.True(seen > 0);
    }

    [Fact]
    public async Task FixedWindow_1000ConcurrentRequestsAcrossTwoApps_ExactlyHundredAllowed()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        Action<RateLimiterOptions> limiter = o => o.AddRedisFixedWindowLimiter("test", x =>
        {
            x.PermitLimit = 100;
            x.Window = TimeSpan.FromMinutes(10);
            x.PartitionBy = _ => "everyone";
        });
        await using var first = await StartAppAsync(server.ConnectionString, prefix, limiter);
        await using var second = await StartAppAsync(server.ConnectionString, prefix, limiter);

        var responses = await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => (i % 2 == 0 ? first : second).Client.GetAsync("/limited")));

        Assert.Equal(100, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(900, responses.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests));
        // Both instances answered half of the requests; which instance's requests won the 100 permits is a race.
        Assert.Equal(500, responses.Count(r => r.RequestMessage!.RequestUri!.Port == first.Address.Port));
        Assert.Equal(500, responses.Count(r => r.RequestMessage!.RequestUri!.Port == second.Address.Port));
        await AssertAllKeysHaveTtlAsync(server.ConnectionString, prefix);
    }

    [Fact]
    public async Task Headers_AllowedAndRejected_CarryDraftAndLegacyHeaders_429IsProblemJson()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var app = await StartAppAsync(server.ConnectionString, prefix, o => o.AddRedisFixedWindowLimiter("test", x =>
        {
            x.PermitLimit = 2;
            x.Window = TimeSpan.FromSeconds(60);
        }));

        var ok = await app.Client.GetAsync("/limited");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("\"test\";q=2;w=60", ok.Headers.GetValues("RateLimit-Policy").Single());
        Assert.Equal("\"test\";r=1;t=60", ok.Headers.GetValues("RateLimit").Single());
        Assert.Equal("2", ok.Headers.GetValues("X-RateLimit-Limit").Single());
        Assert.Equal("1", ok.Headers.GetValues("X-RateLimit-Remaining").Single());
        Assert.Equal("60", ok.Headers.GetValues("X-RateLimit-Reset").Single());

        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/limited")).StatusCode);
        var rejected = await app.Client.GetAsync("/limited");
        Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);
        var retryAfter = rejected.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
        Assert.InRange(retryAfter, 58, 60);
        Assert.Matches("^\"test\";r=0;t=(59|60)$", rejected.Headers.GetValues("RateLimit").Single());
        Assert.Equal("0", rejected.Headers.GetValues("X-RateLimit-Remaining").Single());
        Assert.Equal("application/problem+json", rejected.Content.Headers.ContentType!.MediaType);
        using var body = JsonDocument.Parse(await rejected.Content.ReadAsStringAsync());
        Assert.Equal(429, body.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("test", body.RootElement.GetProperty("policy").GetString());
        Assert.Equal((long)retryAfter, body.RootElement.GetProperty("retryAfterSeconds").GetInt64());
        await AssertAllKeysHaveTtlAsync(server.ConnectionString, prefix);
    }

    [Fact]
    public async Task ClientIp_SpoofedForwardedForFromUntrustedPeer_DoesNotChangePartition()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var app = await StartAppAsync(server.ConnectionString, prefix, o => o.AddRedisFixedWindowLimiter("test", x =>
        {
            x.PermitLimit = 1;
            x.Window = TimeSpan.FromMinutes(1);
            x.PartitionBy = RedisRateLimitPartitions.ClientIp("10.0.0.0/8"); // loopback is not a trusted proxy
        }));

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, "1.1.1.1")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await SendAsync(app, "2.2.2.2")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await SendAsync(app, null)).StatusCode);
        var keys = await KeysAsync(server.ConnectionString, prefix);
        Assert.Equal([prefix + ":ratelimit:{ip%3A127.0.0.1}:test"], keys);
    }

    [Fact]
    public async Task ClientIp_ForwardedForFromTrustedProxy_PartitionsByForwardedClient()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var app = await StartAppAsync(server.ConnectionString, prefix, o => o.AddRedisFixedWindowLimiter("test", x =>
        {
            x.PermitLimit = 1;
            x.Window = TimeSpan.FromMinutes(1);
            x.PartitionBy = RedisRateLimitPartitions.ClientIp("127.0.0.1", "10.0.0.0/8");
        }));

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, "1.1.1.1")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, "2.2.2.2")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await SendAsync(app, "1.1.1.1, 10.1.2.3")).StatusCode); // 10.1.2.3 is a trusted hop
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, "1.1.1.1, 3.3.3.3")).StatusCode); // rightmost untrusted wins
    }

    [Theory]
    [InlineData("sliding")]
    [InlineData("sliding-counter")]
    [InlineData("token")]
    [InlineData("gcra")]
    public async Task EachAlgorithm_ThreePerMinute_ThirdAllowedFourthRejectedWithRetryAfter(string kind)
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var app = await StartAppAsync(server.ConnectionString, prefix, o => _ = kind switch
        {
            "sliding" => o.AddRedisSlidingWindowLimiter("test", x => { x.PermitLimit = 3; x.Window = TimeSpan.FromMinutes(1); }),
            "sliding-counter" => o.AddRedisSlidingWindowLimiter("test", x => { x.PermitLimit = 3; x.Window = TimeSpan.FromDays(1); x.Exact = false; }),
            "token" => o.AddRedisTokenBucketLimiter("test", x => { x.TokenLimit = 3; x.TokensPerPeriod = 1; x.ReplenishmentPeriod = TimeSpan.FromMinutes(1); }),
            _ => o.AddRedisGcraLimiter("test", x => { x.PermitLimit = 3; x.Window = TimeSpan.FromMinutes(1); }),
        });

        for (var i = 0; i < 3; i++)
        {
            var ok = await app.Client.GetAsync("/limited");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal((2 - i).ToString(System.Globalization.CultureInfo.InvariantCulture), ok.Headers.GetValues("X-RateLimit-Remaining").Single());
        }

        var rejected = await app.Client.GetAsync("/limited");
        Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);
        Assert.True(rejected.Headers.RetryAfter!.Delta!.Value.TotalSeconds >= 1);
        Assert.StartsWith("\"test\";q=3;w=", rejected.Headers.GetValues("RateLimit-Policy").Single(), StringComparison.Ordinal);
        await AssertAllKeysHaveTtlAsync(server.ConnectionString, prefix);
    }

    [Fact]
    public async Task Concurrency_RequestInFlight_SecondRejected_FreedWhenFirstCompletes()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var gate = new TaskCompletionSource();
        var entered = new TaskCompletionSource();
        await using var app = await StartAppAsync(
            server.ConnectionString,
            prefix,
            o => o.AddRedisConcurrencyLimiter("test", x => { x.PermitLimit = 1; x.LeaseTtl = TimeSpan.FromSeconds(2); }),
            a => a.MapGet("/slow", async () =>
            {
                entered.TrySetResult();
                await gate.Task;
                return "done";
            }).RequireRateLimiting("test"));

        var slow = app.Client.GetAsync("/slow");
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(2500); // longer than the lease TTL: the heartbeat keeps it
        Assert.Equal(HttpStatusCode.TooManyRequests, (await app.Client.GetAsync("/slow")).StatusCode);
        gate.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await slow).StatusCode);
        await TestHostEventually(async () => (await app.Client.GetAsync("/slow")).StatusCode == HttpStatusCode.OK);
    }

    [Fact]
    public async Task FailureModes_ServerStopped_FailOpenServes_FailClosedRejects()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var prefix = Servers.NewPrefix();
        await using var app = await StartAppAsync(
            server.ConnectionString,
            prefix,
            o => o
                .AddRedisFixedWindowLimiter("open", x => { x.PermitLimit = 1; x.Window = TimeSpan.FromMinutes(1); x.FailureMode = RateLimitFailureMode.FailOpen; })
                .AddRedisFixedWindowLimiter("closed", x => { x.PermitLimit = 100; x.Window = TimeSpan.FromMinutes(1); x.FailureMode = RateLimitFailureMode.FailClosed; })
                .AddRedisFixedWindowLimiter("local", x => { x.PermitLimit = 1; x.Window = TimeSpan.FromMinutes(1); x.FailureMode = RateLimitFailureMode.LocalFallback; }),
            a =>
            {
                a.MapGet("/open", () => "ok").RequireRateLimiting("open");
                a.MapGet("/closed", () => "ok").RequireRateLimiting("closed");
                a.MapGet("/local", () => "ok").RequireRateLimiting("local");
            });
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/closed")).StatusCode);

        await server.StopAsync();
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/open")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/open")).StatusCode);
        var closed = await app.Client.GetAsync("/closed");
        Assert.Equal(HttpStatusCode.TooManyRequests, closed.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), closed.Headers.RetryAfter!.Delta);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/local")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await app.Client.GetAsync("/local")).StatusCode);
    }

    [Fact]
    public void Partitioners_UserApiKeyRoute_BuildExpectedPartitions()
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse("::ffff:192.0.2.7");
        Assert.Equal("ip:192.0.2.7", RedisRateLimitPartitions.ClientIp()(context));
        Assert.Equal("ip:192.0.2.7", RedisRateLimitPartitions.User()(context));
        context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, "42")], "test"));
        Assert.Equal("user:42", RedisRateLimitPartitions.User()(context));

        Assert.Equal("ip:192.0.2.7", RedisRateLimitPartitions.ApiKey()(context));
        context.Request.Headers["X-Api-Key"] = "secret-key";
        var apiKey = RedisRateLimitPartitions.ApiKey()(context);
        Assert.StartsWith("key:", apiKey, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", apiKey, StringComparison.Ordinal);
        Assert.Equal(36, apiKey.Length);

        context.Request.Path = "/orders/7";
        Assert.Equal("route:/orders/7", RedisRateLimitPartitions.Route()(context));
    }

    [Fact]
    public async Task AttemptAcquire_NeverGrantsWithoutIo_AcquireAsyncDecides()
    {
        var server = await Servers.Redis();
        await using var app = await StartAppAsync(server.ConnectionString, Servers.NewPrefix(), o => o.AddRedisFixedWindowLimiter("test", x => { x.PermitLimit = 1; x.Window = TimeSpan.FromMinutes(1); }));
        var limiter = new RedisBackedRateLimiter(app.Services.GetRequiredService<IRedisRateLimiter>(), "direct", [RateLimitPolicy.FixedWindow("direct", 1, TimeSpan.FromMinutes(1))]);
        using var attempt = limiter.AttemptAcquire();
        Assert.False(attempt.IsAcquired);
        using var first = await limiter.AcquireAsync();
        Assert.True(first.IsAcquired);
        Assert.True(first.TryGetMetadata(RedisRateLimitMetadata.Decision, out var decision));
        Assert.Equal(0, decision!.Remaining);
        using var second = await limiter.AcquireAsync();
        Assert.False(second.IsAcquired);
        Assert.True(second.TryGetMetadata(System.Threading.RateLimiting.MetadataName.RetryAfter, out var retry));
        Assert.True(retry > TimeSpan.Zero);
        Assert.Equal(1, limiter.GetStatistics()!.TotalFailedLeases);
    }

    private static async Task TestHostEventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(50);
        }
    }

    private static Task<HttpResponseMessage> SendAsync(TestApp app, string? forwardedFor)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/limited");
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return app.Client.SendAsync(request);
    }

    private static async Task<string[]> KeysAsync(string connectionString, string prefix)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        var keys = new List<string>();
        await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: prefix + ":ratelimit:*"))
        {
            keys.Add(key!);
        }

        return [.. keys];
    }
}

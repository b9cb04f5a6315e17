using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using RedisKit.Testing;

namespace RedisKit.Samples.Shop.Tests;

/// <summary>
/// Sessions and rate limits of the Shop on RedisKit, end to end over HTTP on loopback (two instances sharing
/// one redis-server; the outage test starts its own redis-server and instance).
/// </summary>
[Collection(ShopCollection.Name)]
public sealed class AuthTests(ShopFixture shop)
{
    [Fact]
    public async Task Login_RequestWithASession_IssuesNewIdAndDestroysTheOld()
    {
        using var cookies = new HttpClient(new HttpClientHandler { UseCookies = true }) { BaseAddress = shop.A };
        var first = await LoginAsync(cookies, "carol", "carol-pass-2026");

        // Signing in again while presenting the session (cookie): a new id, the old one is dead at once.
        var second = await LoginAsync(cookies, "carol", "carol-pass-2026");
        Assert.NotEqual(first, second);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetMeAsync(shop.B, first)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await GetMeAsync(shop.B, second)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await cookies.GetAsync("me")).StatusCode);

        // The same for a token client presenting the id as a bearer.
        using var token = new HttpClient { BaseAddress = shop.B };
        token.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", second);
        var third = await LoginAsync(token, "carol", "carol-pass-2026");
        Assert.NotEqual(second, third);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetMeAsync(shop.A, second)).StatusCode);

        // The session list shows the live one, with when and from what it was created.
        token.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", third);
        var sessions = await (await token.GetAsync("auth/sessions")).Content.ReadFromJsonAsync<JsonElement>();
        var current = Assert.Single(sessions.EnumerateArray(), s => s.GetProperty("current").GetBoolean());
        Assert.Equal(third[..8], current.GetProperty("id").GetString());
        Assert.True(current.GetProperty("lastSeenAt").GetDateTimeOffset() >= current.GetProperty("createdAt").GetDateTimeOffset());
        Assert.DoesNotContain(sessions.EnumerateArray(), s => s.GetProperty("id").GetString() == first[..8] || s.GetProperty("id").GetString() == second[..8]);
    }

    [Fact]
    public async Task LogoutAll_OnInstanceA_EndsSessionsOnInstanceBAtOnce()
    {
        var (onA, _) = await shop.SignInAsync("alice", ShopFixture.AlicePassword, shop.A);
        var (onB, idOnB) = await shop.SignInAsync("alice", ShopFixture.AlicePassword, shop.B);
        Assert.Equal(HttpStatusCode.OK, (await onB.GetAsync("me")).StatusCode);

        var ended = await onA.PostAsync("auth/logout-all", null);
        Assert.Equal(HttpStatusCode.OK, ended.StatusCode);
        Assert.True((await ended.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("ended").GetInt32() >= 2);

        // No wait and no retry: the very next request on B is refused.
        var me = await onB.GetAsync("me");
        Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
        Assert.Equal("application/problem+json", me.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetMeAsync(shop.A, idOnB)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await onA.GetAsync("auth/sessions")).StatusCode);
    }

    [Fact]
    public async Task Login_SixthFailedAttempt_429WithRetryAfterRateLimitHeadersAndProblemJson()
    {
        var username = "guess-" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 1; i <= 5; i++)
        {
            var failed = await (i % 2 == 0 ? shop.ClientB : shop.ClientA).PostAsJsonAsync("auth/login", new { username, password = "wrong" });
            Assert.Equal(HttpStatusCode.Unauthorized, failed.StatusCode);
            Assert.Contains("\"login\";q=5;w=900", Header(failed, "RateLimit-Policy"), StringComparison.Ordinal);
        }

        var rejected = await shop.ClientA.PostAsJsonAsync("auth/login", new { username, password = "wrong" });

        Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);
        Assert.Equal("application/problem+json", rejected.Content.Headers.ContentType?.MediaType);
        var problem = await rejected.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.Equal("login", problem.GetProperty("policy").GetString());
        var retryAfter = int.Parse(Header(rejected, "Retry-After"), CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 900);
        Assert.Contains("\"login\";q=5;w=900", Header(rejected, "RateLimit-Policy"), StringComparison.Ordinal);
        Assert.Contains("\"api\";q=", Header(rejected, "RateLimit-Policy"), StringComparison.Ordinal);
        Assert.Contains("\"login\";r=0;t=", Header(rejected, "RateLimit"), StringComparison.Ordinal);
        Assert.Equal("5", Header(rejected, "X-RateLimit-Limit"));
        Assert.Equal("0", Header(rejected, "X-RateLimit-Remaining"));
        Assert.InRange(int.Parse(Header(rejected, "X-RateLimit-Reset"), CultureInfo.InvariantCulture), 1, 900);
        Assert.Equal("0", Header(rejected, "RateLimit-Remaining"));

        // The budget is per client and username: another username from the same client is still checked.
        var other = await shop.ClientA.PostAsJsonAsync("auth/login", new { username = username + "x", password = "wrong" });
        Assert.Equal(HttpStatusCode.Unauthorized, other.StatusCode);
    }

    [Fact]
    public async Task Login_SpoofedForwardedForWithoutTrustedProxies_DoesNotEscapeTheBudget()
    {
        var username = "spoof-" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 1; i <= 6; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "auth/login") { Content = JsonContent.Create(new { username, password = "wrong" }) };
            request.Headers.Add("X-Forwarded-For", $"203.0.113.{i}");
            var response = await shop.ClientA.SendAsync(request);

            // Shop:TrustedProxies is empty: the header is ignored and every attempt is the same client's.
            Assert.Equal(i <= 5 ? HttpStatusCode.Unauthorized : HttpStatusCode.TooManyRequests, response.StatusCode);
        }
    }

    [Theory]
    [InlineData("Bearer not-a-session-id")]
    [InlineData("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!")]
    [InlineData("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task Me_MalformedSessionId_401ProblemJson(string authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "me");
        request.Headers.TryAddWithoutValidation("Authorization", authorization);

        var response = await shop.ClientA.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Bearer", Header(response, "WWW-Authenticate"));
    }

    [Fact]
    public async Task RedisStopped_SessionRoutes503_MalformedId401WithoutRedis_LoginFailsClosed_ApiFailsOpen()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        var directory = Directory.CreateTempSubdirectory("shop-auth-outage-").FullName;
        var app = await ShopApp.BuildAsync(
        [
            "--urls", "http://127.0.0.1:0",
            "--environment", "Production",
            $"--ConnectionStrings:redis={redis.ConnectionString}",
            $"--ConnectionStrings:shop=Data Source={Path.Combine(directory, "shop.db")}",
            "--RedisKit:CommandTimeout=00:00:01",
            "--RedisKit:ConnectTimeout=00:00:01",
            "--Logging:LogLevel:Default=Error",
        ]);
        await app.StartAsync();
        try
        {
            var address = new Uri(ShopApp.Addresses(app).Single().TrimEnd('/') + "/");
            using var anonymous = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            var id = await LoginAsync(anonymous, "bob", ShopFixture.BobPassword);
            Assert.Equal(HttpStatusCode.OK, (await GetMeAsync(address, id)).StatusCode);

            await redis.StopAsync();

            // The session's state is unknown, not invalid: 503 + Retry-After, not a logout.
            var me = await GetMeAsync(address, id);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, me.StatusCode);
            Assert.Equal("application/problem+json", me.Content.Headers.ContentType?.MediaType);
            Assert.True(int.Parse(Header(me, "Retry-After"), CultureInfo.InvariantCulture) >= 1);

            // A malformed id is refused without asking Redis (which could not answer).
            var malformed = await GetMeAsync(address, "malformed");
            Assert.Equal(HttpStatusCode.Unauthorized, malformed.StatusCode);
            Assert.Equal("application/problem+json", malformed.Content.Headers.ContentType?.MediaType);

            // Login fails closed (no unlimited guessing while the budget cannot be read).
            var login = await anonymous.PostAsJsonAsync("auth/login", new { username = "bob", password = ShopFixture.BobPassword });
            Assert.Equal(HttpStatusCode.TooManyRequests, login.StatusCode);
            Assert.Equal("1", Header(login, "Retry-After"));

            // The API limit fails open: an anonymous route that needs only the database still serves.
            var products = await anonymous.GetAsync("products?limit=1");
            Assert.Equal(HttpStatusCode.OK, products.StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // SQLite may still hold the file briefly.
            }
        }
    }

    private static async Task<string> LoginAsync(HttpClient client, string username, string password)
    {
        var response = await client.PostAsJsonAsync("auth/login", new { username, password });
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sessionId").GetString()!;
    }

    private static async Task<HttpResponseMessage> GetMeAsync(Uri instance, string sessionId)
    {
        using var client = new HttpClient { BaseAddress = instance, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, "me");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + sessionId);
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values) : "";
}

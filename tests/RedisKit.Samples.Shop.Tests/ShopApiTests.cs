using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace RedisKit.Samples.Shop.Tests;

/// <summary>End-to-end over real HTTP on loopback: the real app, real redis-server, a real SQLite file.</summary>
[Collection(ShopCollection.Name)]
public sealed class ShopApiTests(ShopFixture shop)
{
    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        return problem;
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode status = HttpStatusCode.OK)
    {
        Assert.True(response.StatusCode == status, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task Products_ListPaging_ReturnsPageWithCacheHeader()
    {
        var response = await shop.ClientA.GetAsync("products?page=3&limit=7");
        var page = await JsonAsync(response);

        Assert.Equal("MISS", response.Headers.GetValues("X-Cache").Single());
        Assert.Equal(3, page.GetProperty("page").GetInt32());
        Assert.Equal(7, page.GetProperty("items").GetArrayLength());
        Assert.True(page.GetProperty("total").GetInt64() >= 1000);
        Assert.Equal(15, page.GetProperty("items")[0].GetProperty("id").GetInt64());

        var books = await JsonAsync(await shop.ClientA.GetAsync("products?category=books&limit=100"));
        Assert.All(books.GetProperty("items").EnumerateArray(), p => Assert.Equal("books", p.GetProperty("category").GetString()));
        Assert.True(response.Headers.Contains("RateLimit-Limit"));
    }

    [Theory]
    [InlineData("products?page=0", "page")]
    [InlineData("products?page=10001", "page")]
    [InlineData("products?page=abc", "page")]
    [InlineData("products?limit=0", "limit")]
    [InlineData("products?limit=101", "limit")]
    [InlineData("products?limit=-5", "limit")]
    [InlineData("products?category=%2A%3F%5B", "category")]
    [InlineData("games/arcade/leaderboard?top=0", "top")]
    [InlineData("games/arcade/leaderboard?top=1000", "top")]
    public async Task Paging_OutOfRange_Returns400NamingTheParameter(string url, string parameter)
    {
        var problem = await ProblemAsync(await shop.ClientA.GetAsync(url), HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.ToString());
    }

    [Fact]
    public async Task Products_GetById_ReturnsProductOr404Problem()
    {
        var response = await shop.ClientA.GetAsync("products/421");
        var product = await JsonAsync(response);
        Assert.Equal(421, product.GetProperty("id").GetInt64());
        Assert.Equal("MISS", response.Headers.GetValues("X-Cache").Single());
        Assert.Equal("HIT", (await shop.ClientA.GetAsync("products/421")).Headers.GetValues("X-Cache").Single());

        // The other instance finds it in Redis (L2).
        Assert.Equal("HIT", (await shop.ClientB.GetAsync("products/421")).Headers.GetValues("X-Cache").Single());

        // "Not found" is cached briefly too: the second 404 does not reach the database.
        var missing = await shop.ClientA.GetAsync("products/999998");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var missingAgain = await shop.ClientA.GetAsync("products/999998");
        Assert.Equal(HttpStatusCode.NotFound, missingAgain.StatusCode);
        Assert.Equal("HIT", missingAgain.Headers.GetValues("X-Cache").Single());

        await ProblemAsync(await shop.ClientA.GetAsync("products/999999"), HttpStatusCode.NotFound);
        await ProblemAsync(await shop.ClientA.GetAsync("products/abc"), HttpStatusCode.NotFound);
        await ProblemAsync(await shop.ClientA.GetAsync("products/99999999999999999999999"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Products_CachedItemAndList_AdminWriteOnOtherInstanceInvalidatesBoth()
    {
        var (admin, _) = await shop.SignInAsync("admin", ShopFixture.AdminPassword);
        var created = await JsonAsync(await admin.PostAsJsonAsync("products", new { name = "Cache Lamp", category = "cachetest", description = "e2e", price = 10m, stock = 50 }), HttpStatusCode.Created);
        var id = created.GetProperty("id").GetInt64();

        Assert.Equal("MISS", (await shop.ClientA.GetAsync($"products/{id}")).Headers.GetValues("X-Cache").Single());
        Assert.Equal("HIT", (await shop.ClientA.GetAsync($"products/{id}")).Headers.GetValues("X-Cache").Single());
        var list = await shop.ClientA.GetAsync("products?category=cachetest&limit=50");
        Assert.Equal(1, (await JsonAsync(list)).GetProperty("total").GetInt64());
        Assert.Equal("HIT", (await shop.ClientA.GetAsync("products?category=cachetest&limit=50")).Headers.GetValues("X-Cache").Single());

        // The admin writes through instance B.
        var (adminOnB, _) = await shop.SignInAsync("admin", ShopFixture.AdminPassword, shop.B);
        var updated = await adminOnB.PutAsJsonAsync($"products/{id}", new { price = 11.5m });
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        await JsonAsync(await adminOnB.PostAsJsonAsync("products", new { name = "Cache Lamp 2", category = "cachetest", description = "e2e", price = 10m, stock = 5 }), HttpStatusCode.Created);

        // Instance A hears the invalidations over the backplane: fresh item and fresh list.
        await EventuallyAsync(async () =>
        {
            var item = await JsonAsync(await shop.ClientA.GetAsync($"products/{id}"));
            var page = await JsonAsync(await shop.ClientA.GetAsync("products?category=cachetest&limit=50"));
            return item.GetProperty("price").GetDecimal() == 11.5m && page.GetProperty("total").GetInt64() == 2 ? (object)true : null;
        });
    }

    [Fact]
    public async Task Products_AdminCreateAndUpdate_RequireAdminRole()
    {
        var body = new { name = "Test Kettle", category = "kitchen", description = "e2e", price = 12.34m, stock = 9 };
        await ProblemAsync(await shop.ClientA.PostAsJsonAsync("products", body), HttpStatusCode.Unauthorized);
        var (alice, _) = await shop.SignInAsync("alice", ShopFixture.AlicePassword);
        await ProblemAsync(await alice.PostAsJsonAsync("products", body), HttpStatusCode.Forbidden);

        var (admin, _) = await shop.SignInAsync("admin", ShopFixture.AdminPassword);
        var created = await admin.PostAsJsonAsync("products", body);
        var product = await JsonAsync(created, HttpStatusCode.Created);
        var id = product.GetProperty("id").GetInt64();
        Assert.Equal($"/products/{id}", created.Headers.Location?.ToString());
        Assert.Equal(12.34m, product.GetProperty("price").GetDecimal());

        await ProblemAsync(await alice.PutAsJsonAsync($"products/{id}", new { price = 1m }), HttpStatusCode.Forbidden);
        var updated = await JsonAsync(await admin.PutAsJsonAsync($"products/{id}", new { price = 15m, stock = 3 }));
        Assert.Equal(15m, updated.GetProperty("price").GetDecimal());
        Assert.Equal("Test Kettle", updated.GetProperty("name").GetString());

        // Read back through the other instance: same database.
        var read = await JsonAsync(await shop.ClientB.GetAsync($"products/{id}"));
        Assert.Equal(3, read.GetProperty("stock").GetInt32());

        var invalid = await ProblemAsync(await admin.PostAsJsonAsync("products", new { name = "", price = -1 }), HttpStatusCode.BadRequest);
        Assert.True(invalid.GetProperty("errors").TryGetProperty("name", out _));
        Assert.True(invalid.GetProperty("errors").TryGetProperty("price", out _));
        await ProblemAsync(await admin.PutAsJsonAsync("products/999999", new { price = 1m }), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Auth_LoginMeSessionsLogout_SessionLifecycle()
    {
        await ProblemAsync(await shop.ClientA.GetAsync("me"), HttpStatusCode.Unauthorized);
        await ProblemAsync(await shop.ClientA.PostAsJsonAsync("auth/login", new { username = "bob", password = "wrong" }), HttpStatusCode.Unauthorized);

        // Cookie client on A.
        using var cookies = new HttpClient(new HttpClientHandler { UseCookies = true }) { BaseAddress = shop.A };
        var login = await cookies.PostAsJsonAsync("auth/login", new { username = "bob", password = ShopFixture.BobPassword });
        var session = await JsonAsync(login);
        Assert.Contains(login.Headers.GetValues("Set-Cookie"), c => c.StartsWith("shop_session=", StringComparison.Ordinal) && c.Contains("httponly", StringComparison.OrdinalIgnoreCase));
        var me = await JsonAsync(await cookies.GetAsync("me"));
        Assert.Equal("bob", me.GetProperty("username").GetString());
        Assert.Equal(session.GetProperty("userId").GetInt64(), me.GetProperty("id").GetInt64());

        // A bearer session of the same user, used on the other instance: sessions are in Redis.
        var (token, _) = await shop.SignInAsync("bob", ShopFixture.BobPassword, shop.B);
        Assert.Equal("bob", (await JsonAsync(await token.GetAsync("me"))).GetProperty("username").GetString());
        var sessions = await JsonAsync(await token.GetAsync("auth/sessions"));
        Assert.True(sessions.GetArrayLength() >= 2);
        Assert.Single(sessions.EnumerateArray(), s => s.GetProperty("current").GetBoolean());

        Assert.Equal(HttpStatusCode.NoContent, (await cookies.PostAsync("auth/logout", null)).StatusCode);
        await ProblemAsync(await cookies.GetAsync("me"), HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, (await token.GetAsync("me")).StatusCode);

        var ended = await JsonAsync(await token.PostAsync("auth/logout-all", null));
        Assert.True(ended.GetProperty("ended").GetInt32() >= 1);
        await ProblemAsync(await token.GetAsync("me"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Auth_LoginAttempts_SixthWithinWindowIs429WithRetryAfter()
    {
        var username = "nobody-" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 0; i < 5; i++)
        {
            await ProblemAsync(await shop.ClientA.PostAsJsonAsync("auth/login", new { username, password = "x" }), HttpStatusCode.Unauthorized);
        }

        // Sixth attempt, on the other instance: the budget is shared through Redis.
        var rejected = await shop.ClientB.PostAsJsonAsync("auth/login", new { username, password = "x" });
        await ProblemAsync(rejected, HttpStatusCode.TooManyRequests);
        Assert.True(int.Parse(rejected.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal("0", rejected.Headers.GetValues("RateLimit-Remaining").Single());
    }

    [Fact]
    public async Task Orders_CreateOnOneInstance_EventReachesSseClientOfTheOther()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var sseClient = new HttpClient { BaseAddress = shop.B, Timeout = Timeout.InfiniteTimeSpan };
        using var response = await sseClient.GetAsync("orders/events", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        Assert.Equal(": subscribed", await reader.ReadLineAsync(cts.Token));

        var (alice, _) = await shop.SignInAsync("alice", ShopFixture.AlicePassword);
        var order = await JsonAsync(await alice.PostAsJsonAsync("orders", new { items = new[] { new { productId = 101, quantity = 2 }, new { productId = 102, quantity = 1 } } }), HttpStatusCode.Created);
        var orderId = order.GetProperty("id").GetInt64();
        Assert.Equal(2, order.GetProperty("items").GetArrayLength());

        var created = await ReadEventAsync(reader, "order.created", orderId, cts.Token);
        Assert.Equal("placed", created.GetProperty("status").GetString());

        var (admin, _) = await shop.SignInAsync("admin", ShopFixture.AdminPassword);
        await ProblemAsync(await alice.PatchAsJsonAsync($"orders/{orderId}/status", new { status = "shipped" }), HttpStatusCode.Forbidden);
        await ProblemAsync(await admin.PatchAsJsonAsync($"orders/{orderId}/status", new { status = "lost" }), HttpStatusCode.BadRequest);
        await JsonAsync(await admin.PatchAsJsonAsync($"orders/{orderId}/status", new { status = "shipped" }));
        var status = await ReadEventAsync(reader, "order.status", orderId, cts.Token);
        Assert.Equal("shipped", status.GetProperty("status").GetString());

        Assert.Equal("shipped", (await JsonAsync(await alice.GetAsync($"orders/{orderId}"))).GetProperty("status").GetString());
        var (bob, _) = await shop.SignInAsync("bob", ShopFixture.BobPassword);
        await ProblemAsync(await bob.GetAsync($"orders/{orderId}"), HttpStatusCode.NotFound);
        await ProblemAsync(await alice.PostAsJsonAsync("orders", new { items = new[] { new { productId = 103, quantity = 1000 } } }), HttpStatusCode.Conflict);
        await ProblemAsync(await alice.PostAsJsonAsync("orders", new { items = new[] { new { productId = 999999, quantity = 1 } } }), HttpStatusCode.NotFound);
    }

    private static async Task<JsonElement> ReadEventAsync(StreamReader reader, string type, long orderId, CancellationToken cancellationToken)
    {
        string? eventType = null;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                eventType = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal) && eventType == type)
            {
                var data = JsonDocument.Parse(line["data: ".Length..]).RootElement;
                if (data.GetProperty("orderId").GetInt64() == orderId)
                {
                    return data;
                }
            }
        }

        throw new InvalidOperationException("event stream ended");
    }

    [Fact]
    public async Task Payments_CreateAndGet_ChargedOnceWithFencingToken()
    {
        var (carol, _) = await shop.SignInAsync("carol", "carol-pass-2026");
        var order = await JsonAsync(await carol.PostAsJsonAsync("orders", new { items = new[] { new { productId = 201, quantity = 1 } } }), HttpStatusCode.Created);
        var orderId = order.GetProperty("id").GetInt64();

        var created = await carol.PostAsJsonAsync("payments", new { orderId });
        var payment = await JsonAsync(created, HttpStatusCode.Accepted);
        var id = payment.GetProperty("id").GetInt64();
        Assert.Equal(order.GetProperty("total").GetDecimal(), payment.GetProperty("amount").GetDecimal());

        // Paying again returns the same payment rather than a second charge.
        var again = await JsonAsync(await carol.PostAsJsonAsync("payments", new { orderId }));
        Assert.Equal(id, again.GetProperty("id").GetInt64());

        var charged = await EventuallyAsync(async () =>
        {
            var p = await JsonAsync(await carol.GetAsync($"payments/{id}"));
            return p.GetProperty("status").GetString() == "charged" ? p : (JsonElement?)null;
        });
        Assert.Equal(1, charged.GetProperty("attempts").GetInt32());
        Assert.True(charged.GetProperty("fencingToken").GetInt64() >= 1);
        Assert.Equal("paid", (await JsonAsync(await carol.GetAsync($"orders/{orderId}"))).GetProperty("status").GetString());

        var (bob, _) = await shop.SignInAsync("bob", ShopFixture.BobPassword);
        await ProblemAsync(await bob.GetAsync($"payments/{id}"), HttpStatusCode.NotFound);
        await ProblemAsync(await bob.PostAsJsonAsync("payments", new { orderId }), HttpStatusCode.NotFound);
        await ProblemAsync(await carol.PostAsJsonAsync("payments", new { orderId = 0 }), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Games_ScoresLeaderboardPlayer_RanksBestScores()
    {
        var board = "e2e-" + Guid.NewGuid().ToString("N")[..8];
        foreach (var (player, score) in new[] { ("ann", 50.0), ("bo", 70.0), ("cy", 10.0), ("di", 90.0), ("ann", 20.0) })
        {
            await JsonAsync(await shop.ClientA.PostAsJsonAsync($"games/{board}/scores", new { player, score }));
        }

        var top = await JsonAsync(await shop.ClientB.GetAsync($"games/{board}/leaderboard?top=3"));
        Assert.Equal(["di", "bo", "ann"], top.EnumerateArray().Select(e => e.GetProperty("player").GetString()));
        Assert.Equal(50.0, top[2].GetProperty("score").GetDouble());

        var ann = await JsonAsync(await shop.ClientA.GetAsync($"games/{board}/players/ann"));
        Assert.Equal(3, ann.GetProperty("rank").GetInt64());
        Assert.Equal(["di", "bo", "cy"], ann.GetProperty("neighbours").EnumerateArray().Select(e => e.GetProperty("player").GetString()));

        await ProblemAsync(await shop.ClientA.GetAsync($"games/{board}/players/nobody"), HttpStatusCode.NotFound);
        await ProblemAsync(await shop.ClientA.PostAsJsonAsync($"games/{board}/scores", new { player = "", score = 1 }), HttpStatusCode.BadRequest);
        await ProblemAsync(await shop.ClientA.GetAsync("games/bad%20board!/leaderboard"), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task ProductViews_CountedThenFlushed_AndRecentlyViewedForSignedInUser()
    {
        var (bob, _) = await shop.SignInAsync("bob", ShopFixture.BobPassword);
        var before = (await JsonAsync(await shop.ClientA.GetAsync("products/777/views"))).GetProperty("views").GetInt64();
        await JsonAsync(await bob.GetAsync("products/777"));
        await JsonAsync(await shop.ClientB.GetAsync("products/777"));
        await JsonAsync(await bob.GetAsync("products/778"));

        await EventuallyAsync(async () =>
        {
            var views = (await JsonAsync(await shop.ClientA.GetAsync("products/777/views"))).GetProperty("views").GetInt64();
            return views == before + 2 ? (object)views : null;
        });

        var recent = await JsonAsync(await bob.GetAsync("me/recently-viewed"));
        var ids = recent.EnumerateArray().Select(p => p.GetProperty("id").GetInt64()).ToList();
        Assert.Equal(778, ids[0]);
        Assert.Contains(777L, ids);
        Assert.True(ids.Count <= 10);
        await ProblemAsync(await shop.ClientA.GetAsync("products/999999/views"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task UserProfile_SecondRead_ServedFromRedisHash()
    {
        var first = await JsonAsync(await shop.ClientA.GetAsync("users/3/profile"));
        var second = await JsonAsync(await shop.ClientB.GetAsync("users/3/profile"));

        Assert.Equal(first.GetProperty("username").GetString(), second.GetProperty("username").GetString());
        Assert.Equal("redis", second.GetProperty("source").GetString());
        await ProblemAsync(await shop.ClientA.GetAsync("users/424242/profile"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AdminStats_RequiresAdminRole_ReportsRedisAndAppFigures()
    {
        await ProblemAsync(await shop.ClientA.GetAsync("admin/stats"), HttpStatusCode.Unauthorized);
        var (alice, _) = await shop.SignInAsync("alice", ShopFixture.AlicePassword);
        await ProblemAsync(await alice.GetAsync("admin/stats"), HttpStatusCode.Forbidden);

        var (admin, _) = await shop.SignInAsync("admin", ShopFixture.AdminPassword);
        var stats = await JsonAsync(await admin.GetAsync("admin/stats"));
        var redis = stats.GetProperty("redis");
        Assert.True(redis.GetProperty("connected").GetBoolean());
        Assert.True(redis.GetProperty("usedMemoryBytes").GetInt64() > 0);
        Assert.True(redis.GetProperty("connectedClients").GetInt64() >= 1);
        Assert.True(redis.TryGetProperty("opsPerSecond", out _));
        Assert.True(redis.TryGetProperty("hitRate", out _));
        Assert.True(stats.GetProperty("app").GetProperty("requests").GetInt64() > 0);
        var messaging = stats.GetProperty("messaging");
        Assert.Equal("stream", messaging.GetProperty("paymentsMode").GetString());
        Assert.True(messaging.GetProperty("paymentsStreamLag").GetInt64() >= 0);
        Assert.True(messaging.GetProperty("pendingMessages").GetInt64() >= 0);

        // Instance B is configured to serve stats without the role (dashboard on a wall screen).
        Assert.Equal(HttpStatusCode.OK, (await shop.ClientB.GetAsync("admin/stats")).StatusCode);
    }

    [Fact]
    public async Task Health_LiveAndReady_Healthy()
    {
        var live = await shop.ClientA.GetAsync("health/live");
        var ready = await shop.ClientA.GetAsync("health/ready");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task OpenApiAndMetrics_Served_DocumentListsContractAndMetersAreScrapable()
    {
        var document = await JsonAsync(await shop.ClientA.GetAsync("openapi/v1.json"));
        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/products", "/products/{id}", "/auth/login", "/orders", "/orders/events", "/payments", "/games/{board}/leaderboard", "/admin/stats" })
        {
            Assert.True(paths.TryGetProperty(path, out _), path);
        }

        var ui = await shop.ClientA.GetAsync("swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, ui.StatusCode);
        Assert.Contains("swagger-ui", await ui.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);

        await shop.ClientA.GetAsync("products/1");
        var metrics = await EventuallyAsync(async () =>
        {
            var text = await shop.ClientA.GetStringAsync("metrics");
            return text.Contains("http_server_request_duration_seconds", StringComparison.Ordinal) && text.Contains("shop_requests_total", StringComparison.Ordinal) ? text : null;
        });
        Assert.Contains("kestrel_", metrics, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string?, string?, int> BadInputs => new()
    {
        // method, url, content type, body, expected status
        { "GET", "products/abc", null, null, 404 },
        { "GET", "products/-1", null, null, 404 },
        { "GET", "products/1.5", null, null, 404 },
        { "GET", "orders/abc", null, null, 404 },
        { "GET", "payments/xyz", null, null, 404 },
        { "GET", "users/abc/profile", null, null, 404 },
        { "GET", "nope/nothing/here", null, null, 404 },
        { "GET", "products?page=1e9", null, null, 400 },
        { "GET", "products?limit=%20", null, null, 400 },
        { "POST", "games/arcade/scores", "application/json", "{not json", 400 },
        { "POST", "games/arcade/scores", "application/json", "", 400 },
        { "POST", "games/arcade/scores", "application/json", "[1,2,3]", 400 },
        { "POST", "games/arcade/scores", "application/json", "{\"player\":\"x\",\"score\":\"high\"}", 400 },
        { "POST", "games/arcade/scores", "application/json", "{\"player\":\"x\",\"score\":1e400}", 400 },
        { "POST", "games/arcade/scores", "application/json", "{\"player\":" + new string('[', 200) + "}", 400 },
        { "POST", "games/arcade/scores", "text/plain", "player=x", 415 },
        { "POST", "games/" + new string('b', 300) + "/scores", "application/json", "{\"player\":\"x\",\"score\":1}", 400 },
        { "POST", "games/arcade/scores", "application/json", "{\"player\":\"" + new string('p', 100) + "\",\"score\":1}", 400 },
        { "POST", "auth/login", "application/json", "{\"username\":123}", 400 },
        { "POST", "auth/login", "application/json", "{\"username\":\"\",\"password\":\"\"}", 400 },
        { "POST", "auth/login", "application/json", "null", 400 },
        { "POST", "games/arcade/scores", "application/json", "{\"player\":\"x\",\"score\":1,\"pad\":\"" + new string('a', 70_000) + "\"}", 413 },
        { "GET", "me", null, null, 401 },
        { "POST", "orders", "application/json", "{\"items\":[]}", 401 },
        { "DELETE", "products/1", null, null, 405 },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task BadInput_Corpus_Answers4xxProblemJsonNever500(string method, string url, string? contentType, string? body, int expected)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), url);

        // Several of these are rejected before the body is read; a pooled connection the server then
        // closes can race with the client's next request on it. One connection per case avoids that
        // client-side race without changing what is asserted about the server's answer.
        request.Headers.ConnectionClose = true;
        if (contentType is not null)
        {
            request.Content = new StringContent(body ?? "", Encoding.UTF8);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }

        var response = await shop.ClientA.SendAsync(request);

        Assert.True((int)response.StatusCode == expected, $"{method} {url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task BadInput_AuthenticatedCorpus_Answers4xxNever500()
    {
        var (admin, _) = await shop.SignInAsync("admin", ShopFixture.AdminPassword);
        string[] bodies = ["{\"items\":null}", "{\"items\":[null]}", "{\"items\":[{\"productId\":\"a\"}]}", "{\"items\":[{\"productId\":1,\"quantity\":-1}]}", "{\"items\":[{\"productId\":1,\"quantity\":2147483648}]}", "{}", "{\"items\":" + string.Join("", Enumerable.Repeat("[", 64)) + "}"];
        foreach (var body in bodies)
        {
            var response = await admin.PostAsync("orders", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.True((int)response.StatusCode is >= 400 and < 500, $"{body}: {(int)response.StatusCode}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        foreach (var body in new[] { "{\"price\":\"free\"}", "{\"stock\":1e10}", "{\"category\":\"a b\"}", "{\"name\":\"" + new string('n', 201) + "\"}" })
        {
            var response = await admin.PutAsync("products/1", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe)
        where T : class
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            Assert.True(DateTime.UtcNow < deadline, "condition not met within 15 s");
            await Task.Delay(100);
        }
    }

    private static async Task<JsonElement> EventuallyAsync(Func<Task<JsonElement?>> probe)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            Assert.True(DateTime.UtcNow < deadline, "condition not met within 15 s");
            await Task.Delay(100);
        }
    }
}

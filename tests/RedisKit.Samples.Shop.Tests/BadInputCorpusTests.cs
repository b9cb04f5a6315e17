using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Tests;

/// <summary>
/// A generated bad-input corpus against every route of the running Shop (instance A), then a SCAN of every key under
/// the sample's prefix in the real redis-server: no key created by the corpus lacks a TTL, and no TTL-less key (by
/// design: leaderboards, streams, fence counters, the write-behind queue) was created or grown by it.
/// </summary>
[Collection(ShopCollection.Name)]
public sealed class BadInputCorpusTests(ShopFixture shop)
{
    /// <summary>What a case must answer.</summary>
    private enum Expect
    {
        /// <summary>4xx with an application/problem+json body.</summary>
        Problem4xx,

        /// <summary>Anything but 5xx; a 4xx must be problem+json (an anonymous route ignores a bad session and serves).</summary>
        Not5xx,

        /// <summary>
        /// 4xx from Kestrel itself, before the application runs (request line over 8 KB, raw non-ASCII header bytes):
        /// no middleware sees the request, so there is no problem+json body to require.
        /// </summary>
        Server4xx,
    }

    private enum Auth
    {
        Anonymous,
        User,
        Admin,
    }

    private sealed record Route(string Method, string Template, Auth Needs, bool HasBody);

    private sealed record Case(string Kind, string Method, string Url, Expect Expect, Action<HttpRequestMessage>? Configure = null, HttpContent? Body = null, bool RawUtf8Headers = false)
    {
        public override string ToString() => $"[{Kind}] {Method} {(Url.Length > 120 ? Url[..120] + "…" : Url)}";
    }

    /// <summary>Every route the Shop maps (ShopApp.cs, Features/*.cs), with placeholders {id}, {board}, {player}.</summary>
    private static readonly Route[] Routes =
    [
        new("GET", "products", Auth.Anonymous, false),
        new("GET", "products/{id}", Auth.Anonymous, false),
        new("GET", "products/{id}/views", Auth.Anonymous, false),
        new("POST", "products", Auth.Admin, true),
        new("PUT", "products/{id}", Auth.Admin, true),
        new("POST", "auth/login", Auth.Anonymous, true),
        new("POST", "auth/logout", Auth.User, false),
        new("POST", "auth/logout-all", Auth.User, false),
        new("GET", "auth/sessions", Auth.User, false),
        new("GET", "me", Auth.User, false),
        new("GET", "me/recently-viewed", Auth.User, false),
        new("GET", "users/{id}/profile", Auth.Anonymous, false),
        new("POST", "orders", Auth.User, true),
        new("GET", "orders/{id}", Auth.User, false),
        new("PATCH", "orders/{id}/status", Auth.Admin, true),
        new("GET", "orders/events", Auth.Anonymous, false),
        new("POST", "payments", Auth.User, true),
        new("GET", "payments/{id}", Auth.User, false),
        new("POST", "games/{board}/scores", Auth.Anonymous, true),
        new("GET", "games/{board}/leaderboard", Auth.Anonymous, false),
        new("GET", "games/{board}/players/{player}", Auth.Anonymous, false),
        new("GET", "admin/stats", Auth.Admin, false),
        new("GET", "admin/dashboard", Auth.Admin, false),
        new("GET", "health/live", Auth.Anonymous, false),
        new("GET", "health/ready", Auth.Anonymous, false),
        new("GET", "metrics", Auth.Anonymous, false),
        new("GET", "openapi/v1.json", Auth.Anonymous, false),
        new("GET", "", Auth.Anonymous, false),
    ];

    private static readonly string Kb10 = new('A', 10 * 1024);

    /// <summary>Malformed and oversized session cookies and Authorization headers (the sample's two session carriers).</summary>
    private static readonly (string Name, Action<HttpRequestMessage> Apply, bool Raw)[] SessionGarbage =
    [
        ("cookie 10 KB", r => r.Headers.TryAddWithoutValidation("Cookie", "shop_session=" + Kb10), false),
        ("cookie not base64url", r => r.Headers.TryAddWithoutValidation("Cookie", "shop_session=!!!not+base64/==="), false),
        ("cookie percent-encoded non-ASCII", r => r.Headers.TryAddWithoutValidation("Cookie", "shop_session=%C3%BC%F0%9F%98%80%FF"), false),
        // Sent as raw UTF-8 bytes (not percent-encoded): Kestrel passes them on (as Latin-1 text), the app refuses the id.
        ("cookie raw UTF-8 bytes", r => r.Headers.TryAddWithoutValidation("Cookie", "shop_session=ünïcødé😀"), true),
        ("cookie empty", r => r.Headers.TryAddWithoutValidation("Cookie", "shop_session="), false),
        ("cookie twice", r => r.Headers.TryAddWithoutValidation("Cookie", "shop_session=a; shop_session=b"), false),
        ("cookie header garbage", r => r.Headers.TryAddWithoutValidation("Cookie", ";;==;" + new string('=', 4096)), false),
        ("bearer 10 KB", r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + Kb10), false),
        ("bearer not base64url", r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer !!!*?[]\\"), false),
        ("bearer raw UTF-8 bytes", r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer ünïcødé"), true),
        ("bearer empty", r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer "), false),
        ("basic scheme", r => r.Headers.TryAddWithoutValidation("Authorization", "Basic YWRtaW46YWRtaW4tcGFzcy0yMDI2"), false),
        ("bearer with spaces", r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer a b c"), false),
    ];

    private static readonly string[] HostileIds =
    [
        "abc", "-1", "0", "-9223372036854775808", "9223372036854775808", "99999999999999999999999999", "1.5", "1e3", "0x10",
        "%D9%A1%D9%A2%D9%A3" /* Arabic-Indic 123 */, "%F0%9D%9F%99" /* math bold 1 */, "%F0%9F%98%80", "%20", "1%00", "%2A", "%5B1%5D", "1;DROP", "..%2F1",
    ];

    private static readonly string[] HostileStrings =
    [
        "%2A", "%3F", "%5B", "%5D", "%5C", "a%2Ab%3Fc%5Bd%5De%5C", "%5Ba-z%5D%2A", new string('b', 7 * 1024), "%C3%BC%C3%B1%C3%AF", "%F0%9F%98%80", "..", "%00", "a%2Fb", "%20%20",
    ];

    [Fact]
    public async Task BadInput_EveryRouteGeneratedCorpus_4xxProblemJsonNo500_NoKeyWithoutTtl()
    {
        var (_, userId) = await shop.SignInAsync("bob", ShopFixture.BobPassword);
        var (_, adminId) = await shop.SignInAsync("admin", ShopFixture.AdminPassword);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(shop.Redis.ConnectionString);
        var before = await SnapshotAsync(redis);

        var cases = BuildCorpus(userId, adminId);
        var results = await SendAllAsync(cases);

        // The corpus never signed the real sessions out: the authenticated cases really ran authenticated.
        foreach (var id in new[] { userId, adminId })
        {
            using var me = new HttpRequestMessage(HttpMethod.Get, "me");
            me.Headers.Authorization = new AuthenticationHeaderValue("Bearer", id);
            Assert.Equal(HttpStatusCode.OK, (await shop.ClientA.SendAsync(me)).StatusCode);
        }

        var statuses = results.GroupBy(r => r.Status).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());
        var failures = results.Where(r => !r.Ok).Select(r => $"{r.Case} → {r.Status} {r.ContentType}").ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} cases failed:\n" + string.Join("\n", failures.Take(40)));
        Assert.DoesNotContain(statuses.Keys, s => s >= 500);

        // Many distinct values of cached parameters: the key space stays bounded, or every new key has a TTL.
        var flood = await FloodAsync();

        var after = await SnapshotAsync(redis);
        var report = CompareKeys(before, after);
        Assert.True(report.Violations.Count == 0, string.Join("\n", report.Violations));
        Assert.True(flood.NewCategoryKeys == 0, $"unknown categories created {flood.NewCategoryKeys} cache keys");
        Assert.True(flood.NewListKeys >= 2000, $"the same pattern sees the 2 000 cached pages (it is not vacuous): {flood.NewListKeys}");
        Assert.Equal(6000, flood.Statuses.Values.Sum());
        Assert.DoesNotContain(flood.Statuses.Keys, s => s >= 500);

        // Figures for docs/reliability-security.md (printed by: dotnet test … --logger "console;verbosity=detailed").
        Console.WriteLine("corpus by kind: " + string.Join(", ", results.GroupBy(r => r.Case.Kind.Split(':')[0]).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()} ({string.Join("/", g.GroupBy(r => r.Status).OrderBy(x => x.Key).Select(x => $"{x.Key}×{x.Count()}"))})")));
        Console.WriteLine($"corpus cases: {cases.Count}; statuses: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}");
        Console.WriteLine($"flood: {flood.Requests} requests, statuses: {string.Join(", ", flood.Statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"))}; new list keys {flood.NewListKeys}, new category keys {flood.NewCategoryKeys}, new keys with TTL {report.NewWithTtl}, keys scanned before {before.Count}, after {after.Count}");
        Console.WriteLine($"TTL-less keys: {string.Join("; ", report.TtlLess)}");
    }

    private List<Case> BuildCorpus(string userId, string adminId)
    {
        var cases = new List<Case>();
        string Fill(string template, string id = "1", string board = "arcade", string player = "ann") =>
            template.Replace("{id}", id, StringComparison.Ordinal).Replace("{board}", board, StringComparison.Ordinal).Replace("{player}", player, StringComparison.Ordinal);
        HttpContent Json(string body) => new StringContent(body, Encoding.UTF8, "application/json");
        Action<HttpRequestMessage> As(string id) => r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", id);
        string? SessionFor(Auth needs) => needs switch { Auth.User => userId, Auth.Admin => adminId, _ => null };

        // 1. Every route × every malformed or oversized session carrier. A protected route answers 401; an anonymous one
        //    ignores the bad session and serves (a body route still validates its empty body: 4xx).
        foreach (var route in Routes)
        {
            foreach (var (name, apply, raw) in SessionGarbage)
            {
                var expect = route.Needs != Auth.Anonymous ? Expect.Problem4xx : Expect.Not5xx;
                cases.Add(new Case("session: " + name, route.Method, Fill(route.Template), expect, apply, route.HasBody ? Json("{}") : null, raw));
            }
        }

        // 2. Hostile ids and names in every path parameter, anonymously and with the session the route needs.
        foreach (var route in Routes.Where(r => r.Template.Contains('{', StringComparison.Ordinal)))
        {
            var values = route.Template.Contains("{id}", StringComparison.Ordinal) ? HostileIds : HostileStrings;
            foreach (var value in values)
            {
                foreach (var session in new[] { null, SessionFor(route.Needs) }.Distinct())
                {
                    var url = route.Template.Contains("{id}", StringComparison.Ordinal) ? Fill(route.Template, id: value)
                        : Fill(route.Template, board: value);
                    // An encoded NUL in the path is refused by Kestrel itself (400, before the app).
                    var expect = value.Contains("%00", StringComparison.Ordinal) ? Expect.Server4xx : Expect.Problem4xx;
                    cases.Add(new Case("path", route.Method, url, expect, session is null ? null : As(session), route.HasBody ? Json("{\"player\":\"x\",\"score\":1}") : null));
                    if (route.Template.Contains("{player}", StringComparison.Ordinal))
                    {
                        // A hostile player on a real board: 400 (too long) or 404 (no such player), never a glob match.
                        cases.Add(new Case("path", route.Method, Fill(route.Template, player: value), expect));
                    }
                }
            }
        }

        // 3. Hostile query strings: every validated parameter gets glob characters, huge numbers, unicode, 7 KB values
        //    (under Kestrel's 8 KB request line: they reach the app) and 10 KB values (over it: Kestrel answers 414).
        string[] queryValues = ["%2A", "%3F", "%5B", "%5D", "%5C", "%2A%3F%5B%5D%5C", "-1", "1e9", "99999999999999999999", "%C3%BC", "%F0%9F%98%80", "%00", "a%20b", "0x10", new string('a', 7 * 1024), new string('*', 7 * 1024)];
        foreach (var value in queryValues)
        {
            foreach (var url in new[] { $"products?page={value}", $"products?limit={value}", $"products?category={value}", $"games/arcade/leaderboard?top={value}" })
            {
                // "-1", "1e9", "0x10", "9999…" are well-formed category names (letters, digits, '-'): an unknown category is
                // an empty page (200), not an error, and it is not cached (see the flood below).
                var wellFormedCategory = url.StartsWith("products?category=", StringComparison.Ordinal) && value.Length <= 64 && value.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');
                cases.Add(new Case("query", "GET", url, wellFormedCategory ? Expect.Not5xx : Expect.Problem4xx));
            }
        }

        foreach (var route in Routes)
        {
            // Unknown parameters are ignored (the route's own rules still apply), and a 10 KB value never reaches the app.
            // (Never with the real session on logout routes: that would be a valid sign-out, ending the session the other cases use.)
            var session = route.Template.StartsWith("auth/logout", StringComparison.Ordinal) ? null : SessionFor(route.Needs);
            cases.Add(new Case("query: unknown hostile", route.Method, Fill(route.Template) + "?q=%2A%3F%5B%5D%5C&x=" + new string('*', 2048), Expect.Not5xx, session is null ? null : As(session), route.HasBody ? Json("{}") : null));
            cases.Add(new Case("query: 10 KB", route.Method, Fill(route.Template) + "?q=" + Kb10, Expect.Server4xx, null, route.HasBody ? Json("{}") : null));
        }

        // 4. Bodies: over the limit (declared and chunked), nested 10 000 deep, wrong type, invalid UTF-8, hostile JSON.
        foreach (var route in Routes.Where(r => r.HasBody))
        {
            var session = SessionFor(route.Needs);
            var url = route.Method == "PUT" ? Fill(route.Template, id: "990") : Fill(route.Template); // a product no other test reads
            var deepArray = new string('[', 10_000) + new string(']', 10_000);
            var deepObject = string.Concat(Enumerable.Repeat("{\"a\":", 10_000)) + "1" + new string('}', 10_000);
            var bodies = new List<(string Name, Func<HttpContent> Content)>
            {
                ("65 KB declared", () => Json("{\"pad\":\"" + new string('p', 65 * 1024) + "\"}")),
                ("100 KB chunked", () => new ChunkedContent(Encoding.UTF8.GetBytes("{\"pad\":\"" + new string('p', 100 * 1024) + "\"}"))),
                ("array 10 000 deep", () => Json(deepArray)),
                ("object 10 000 deep", () => Json(deepObject)),
                ("text/plain", () => new StringContent("x=1", Encoding.UTF8, "text/plain")),
                ("no content type", () => new ByteArrayContent("{}"u8.ToArray())),
                ("invalid UTF-8", () => new ByteArrayContent([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } }),
                ("truncated", () => Json("{\"items\":[{\"productId\":1,")),
                ("null", () => Json("null")),
                ("array", () => Json("[]")),
                ("huge number", () => Json("{\"orderId\":1e400,\"score\":1e400,\"price\":1e400,\"items\":[{\"productId\":99999999999999999999,\"quantity\":1}]}")),
                ("NUL and glob", () => Json("{\"username\":\"\\u0000*?[]\\\\\",\"password\":\"\\u0000\",\"player\":\"\\u0000\",\"status\":\"*\",\"name\":\"\\u0000\",\"items\":\"*\"}")),
                ("duplicate keys", () => Json("{\"orderId\":1,\"orderId\":\"x\",\"items\":[],\"items\":null}")),
            };
            foreach (var (name, content) in bodies)
            {
                // PUT /products/{id} is a partial update: a well-formed object with no known field changes nothing (200).
                // ("invalid UTF-8" only spoils a property name, which is then an unknown field.)
                var expect = route.Method == "PUT" && name is ("duplicate keys" or "invalid UTF-8") ? Expect.Not5xx : Expect.Problem4xx;
                cases.Add(new Case("body: " + name, route.Method, url, expect, session is null ? null : As(session), content()));
                if (session is not null)
                {
                    cases.Add(new Case("body (anonymous): " + name, route.Method, url, Expect.Problem4xx, null, content()));
                }
            }
        }

        return cases;
    }

    private sealed record Result(Case Case, int Status, string? ContentType, bool Ok);

    private async Task<List<Result>> SendAllAsync(List<Case> cases)
    {
        using var plain = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = shop.A, Timeout = TimeSpan.FromSeconds(30) };
        using var raw = new HttpClient(new SocketsHttpHandler { UseCookies = false, RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8 }) { BaseAddress = shop.A, Timeout = TimeSpan.FromSeconds(30) };
        using var gate = new SemaphoreSlim(8);
        var results = new ConcurrentBag<Result>();
        await Task.WhenAll(cases.Select(async c =>
        {
            await gate.WaitAsync();
            try
            {
                using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Url) { Content = c.Body };
                request.Headers.ConnectionClose = true; // the server may close after an early rejection
                c.Configure?.Invoke(request);
                int status;
                string? type;
                try
                {
                    // Headers only: /orders/events is an endless event stream.
                    using var response = await (c.RawUtf8Headers ? raw : plain).SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                    status = (int)response.StatusCode;
                    type = response.Content.Headers.ContentType?.MediaType;
                }
                catch (HttpRequestException) when (c.Body is ChunkedContent)
                {
                    // Kestrel may answer 413 and close while the client is still sending the chunked body.
                    status = 413;
                    type = "application/problem+json (connection closed mid-upload)";
                }

                var ok = c.Expect switch
                {
                    Expect.Problem4xx => status is >= 400 and < 500 && type?.StartsWith("application/problem+json", StringComparison.Ordinal) == true,
                    Expect.Not5xx => status < 500 && (status < 400 || type?.StartsWith("application/problem+json", StringComparison.Ordinal) == true),
                    _ => status is >= 400 and < 500,
                };
                results.Add(new Result(c, status, type, ok));
            }
            finally
            {
                gate.Release();
            }
        }));
        return [.. results];
    }

    private sealed record Flood(int Requests, Dictionary<int, int> Statuses, int NewCategoryKeys, int NewListKeys);

    /// <summary>
    /// 2 000 distinct unknown categories (answered without caching: bounded), 2 000 distinct pages of the list
    /// (cached: each key has a 60 s TTL) and 2 000 distinct missing product ids (negative entries: 30 s TTL).
    /// </summary>
    private async Task<Flood> FloodAsync()
    {
        using var client = new HttpClient { BaseAddress = shop.A, Timeout = TimeSpan.FromSeconds(30) };
        await using var redis = await ConnectionMultiplexer.ConnectAsync(shop.Redis.ConnectionString);
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        async Task<int> CountAsync(string pattern)
        {
            var n = 0;
            await foreach (var _ in server.KeysAsync(pattern: pattern, pageSize: 1000))
            {
                n++;
            }

            return n;
        }

        // Cache keys are {prefix}:cache:{<key with ':' percent-encoded>} (KeyBuilder.EncodeSegment).
        var listPattern = shop.Prefix + ":cache:*" + KeyBuilder.EncodeSegment("products:list:") + "*";
        var categoryPattern = shop.Prefix + ":cache:*" + KeyBuilder.EncodeSegment("products:list:c") + "*";
        var categoryKeysBefore = await CountAsync(categoryPattern);
        var listKeysBefore = await CountAsync(listPattern);
        var marker = Guid.NewGuid().ToString("N")[..6];
        var urls = Enumerable.Range(0, 2000).Select(i => $"products?category=c{marker}-{i}")
            .Concat(Enumerable.Range(0, 2000).Select(i => $"products?page={i + 1}&limit=1"))
            .Concat(Enumerable.Range(0, 2000).Select(i => $"products/{5_000_000 + i}"))
            .ToList();
        var statuses = new ConcurrentDictionary<int, int>();
        using var gate = new SemaphoreSlim(16);
        await Task.WhenAll(urls.Select(async url =>
        {
            await gate.WaitAsync();
            try
            {
                using var response = await client.GetAsync(url);
                statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
            }
            finally
            {
                gate.Release();
            }
        }));
        return new Flood(urls.Count, new Dictionary<int, int>(statuses), await CountAsync(categoryPattern) - categoryKeysBefore, await CountAsync(listPattern) - listKeysBefore);
    }

    private sealed record KeyState(bool HasTtl, string Type, long Size);

    private async Task<Dictionary<string, KeyState>> SnapshotAsync(ConnectionMultiplexer redis)
    {
        var database = redis.GetDatabase();
        var keys = new Dictionary<string, KeyState>(StringComparer.Ordinal);
        await foreach (var key in redis.GetServer(redis.GetEndPoints()[0]).KeysAsync(pattern: shop.Prefix + ":*", pageSize: 1000))
        {
            var ttl = await database.KeyTimeToLiveAsync(key);
            var type = await database.KeyTypeAsync(key);
            var size = type switch
            {
                RedisType.SortedSet => await database.SortedSetLengthAsync(key),
                RedisType.Stream => await database.StreamLengthAsync(key),
                RedisType.Hash => await database.HashLengthAsync(key),
                RedisType.List => await database.ListLengthAsync(key),
                RedisType.Set => await database.SetLengthAsync(key),
                RedisType.String => await database.StringLengthAsync(key),
                _ => -1, // expired between SCAN and TYPE
            };
            if (size >= 0)
            {
                keys[key.ToString()] = new KeyState(ttl is not null, type.ToString(), size);
            }
        }

        return keys;
    }

    private sealed record KeyReport(List<string> Violations, List<string> TtlLess, int NewWithTtl);

    /// <summary>
    /// Keys the Shop keeps without a TTL by design, and why. Only the write-behind queue may be created or grown while
    /// the corpus runs, and not by bad input; every other one must be neither created nor grown.
    /// </summary>
    private static readonly (string Pattern, string Why, bool MayBeCreatedOrGrown)[] TtlLessByDesign =
    [
        (":lb:", "leaderboards (Features/Games.cs): a board lives until cleared; bad input (board, player, score) is rejected before ZADD", false),
        (":stream:", "the payments stream and its dead letters (Features/Payments.cs) and the order events: a producer runs only after " +
            "authentication and validation, which every bad case fails (401/400); consumers acknowledge, which does not change XLEN", false),
        (":lock:", "lock fence counters (a fencing token must never go back): only the payment worker takes locks", false),
        (":wb:", "the product-views write-behind queue (a list, deleted by Redis when drained): the anonymous GET products/1 cases " +
            "whose bad session is ignored are real views, served 200 and queued; the 200 ms flush drains them. Grown by valid reads, not by bad input", true),
    ];

    private static KeyReport CompareKeys(Dictionary<string, KeyState> before, Dictionary<string, KeyState> after)
    {
        var violations = new List<string>();
        var ttlLess = new List<string>();
        var newWithTtl = 0;
        foreach (var (key, state) in after)
        {
            var existed = before.TryGetValue(key, out var old);
            if (state.HasTtl)
            {
                newWithTtl += existed ? 0 : 1;
                continue;
            }

            var design = TtlLessByDesign.FirstOrDefault(d => key.Contains(d.Pattern, StringComparison.Ordinal));
            ttlLess.Add($"{key} ({state.Type}, {state.Size}){(existed ? "" : " NEW")}");
            if (design.Pattern is null)
            {
                violations.Add($"{key}: {state.Type} without a TTL, not a by-design key ({(existed ? "existed before" : "created during the corpus")})");
            }
            else if (!existed && !design.MayBeCreatedOrGrown)
            {
                violations.Add($"{key}: {state.Type} without a TTL created during the corpus ({design.Why})");
            }
            else if (existed && state.Size > old!.Size && !design.MayBeCreatedOrGrown)
            {
                violations.Add($"{key}: {state.Type} without a TTL grew from {old.Size} to {state.Size} during the corpus");
            }
        }

        return new KeyReport(violations, ttlLess, newWithTtl);
    }

    /// <summary>A body sent with Transfer-Encoding: chunked (no Content-Length), so only Kestrel's read limit stops it.</summary>
    private sealed class ChunkedContent : HttpContent
    {
        private readonly byte[] _bytes;

        public ChunkedContent(byte[] bytes)
        {
            _bytes = bytes;
            Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(_bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}

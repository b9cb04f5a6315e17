using System.Collections.Concurrent;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RedisKit.DataStructures;
using RedisKit.Leaderboards;
using RedisKit.RateLimiting;
using StackExchange.Redis;

namespace RedisKit.AspNetCore.Tests.Security;

public sealed record RoundMessage(int Id, string Text);

public sealed record RoundItem(string Name, long Views, int Stock);

/// <summary>What the round's stream handler saw.</summary>
public sealed class RoundProbe
{
    public ConcurrentDictionary<int, int> Deliveries { get; } = new();
}

public sealed class RoundHandler(RoundProbe probe) : IStreamHandler<RoundMessage>
{
    public Task HandleAsync(StreamMessage<RoundMessage> message, CancellationToken cancellationToken)
    {
        probe.Deliveries[message.Message.Id] = message.Delivery;
        return Task.CompletedTask;
    }
}

/// <summary>
/// One real round of every RedisKit capability against whatever server and user the connection string names.
/// The ACL and the TLS tests run this same code, so they exercise the same commands and scripts. Each step
/// asserts an outcome that only a working Redis gives (a limiter that denies the third call, a lock that is
/// refused while held, a claimed stream entry): a capability that failed open or fell back would fail here.
/// </summary>
public static class CapabilityRound
{
    public const string Stream = "round";
    public const string Group = "g";
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(15);

    /// <summary>A generic host (hosted services run) with every capability on the given server.</summary>
    public static IHost BuildHost(string connectionString, string prefix, string? caPath, RoundProbe probe, ILoggerProvider logs)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.AddSingleton(probe);
        builder.Services.AddRedisKit(o =>
            {
                o.ConnectionString = connectionString;
                o.KeyPrefix = prefix;
                o.TlsCaCertificatePath = caPath;
                o.ConnectTimeout = TimeSpan.FromSeconds(5);
                o.CommandTimeout = TimeSpan.FromSeconds(5);
            })
            .AddCaching()
            .AddOutputCacheStore()
            .AddSessions()
            .AddRateLimiting()
            .AddLocking(o => o.AutoExtend = false)
            .AddLeaderboards()
            .AddDataStructures()
            .AddMessaging()
            .AddStreamConsumer<RoundMessage, RoundHandler>(Stream, Group, o =>
            {
                o.ConsumerName = "live";
                o.MinPollDelay = TimeSpan.FromMilliseconds(2);
                o.MaxPollDelay = TimeSpan.FromMilliseconds(50);
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(50);
                o.ClaimIdleTime = TimeSpan.FromMilliseconds(300);
                o.ClaimInterval = TimeSpan.FromMilliseconds(100);
            });
        builder.Services.AddHealthChecks().AddRedisKit();
        return builder.Build();
    }

    /// <summary>
    /// Before the host starts: as the same user, creates the consumer group, adds entry 1 and reads it as a
    /// consumer named "crashed" that never acknowledges, so the live consumer has to claim it (XAUTOCLAIM).
    /// </summary>
    public static async Task PrepareStreamAsync(IServiceProvider services)
    {
        var connection = services.GetRequiredService<IRedisConnection>();
        var database = await connection.GetDatabaseAsync();
        var key = connection.Keys.TaggedKey("stream", Stream);
        await database.StreamCreateConsumerGroupAsync(key, Group, StreamPosition.Beginning, createStream: true);
        await services.GetRequiredService<IStreamProducer>().AddAsync(Stream, new RoundMessage(1, "left pending by a crashed consumer"));
        var read = await database.StreamReadGroupAsync(key, Group, "crashed", StreamPosition.NewMessages, 10);
        Assert.Single(read);
    }

    /// <summary>Runs every capability once; returns the names of the steps that ran (all of them, or it throws).</summary>
    public static async Task<IReadOnlyList<string>> RunAsync(IServiceProvider services, IConnectionMultiplexer admin, string prefix, bool infoAllowed = true)
    {
        var steps = new List<string>();
        var connection = services.GetRequiredService<IRedisConnection>();
        var adminDb = admin.GetDatabase();

        // Connection: the capability probe (INFO server, COMMAND INFO, a ZREVRANK probe).
        var capabilities = await connection.GetCapabilitiesAsync();
        Assert.Equal(RedisEngine.Redis, capabilities.Engine);
        Assert.True(capabilities.Features.HasFlag(RedisFeatures.Streams | RedisFeatures.AtomicLua), capabilities.ToString());
        steps.Add("probe");

        // Cache: get-or-set, tag invalidation, prefix invalidation (SCAN on every primary, never KEYS).
        var cache = services.GetRequiredService<IRedisCache>();
        var calls = 0;
        Assert.Equal(1, await cache.GetOrSetAsync("product:1", _ => Task.FromResult(++calls), tags: ["products"]));
        Assert.Equal(1, await cache.GetOrSetAsync("product:1", _ => Task.FromResult(++calls), tags: ["products"]));
        Assert.Equal(1, calls);
        Assert.True(await adminDb.KeyExistsAsync(connection.Keys.TaggedKey("cache", "product:1")), "the entry reached Redis");
        await cache.SetAsync("product:2", 2, tags: ["products"]);
        await cache.RemoveByTagAsync("products");
        Assert.False((await cache.TryGetAsync<int>("product:1")).Found);
        Assert.False((await cache.TryGetAsync<int>("product:2")).Found);
        for (var i = 0; i < 5; i++)
        {
            await cache.SetAsync($"page:{i}", i);
        }

        Assert.Equal(5, await cache.RemoveByPrefixAsync("page:"));
        Assert.False((await cache.TryGetAsync<int>("page:3")).Found);
        steps.Add("cache");

        // Output cache store (the framework's IOutputCacheStore).
        var store = services.GetRequiredService<IOutputCacheStore>();
        await store.SetAsync("GET/products", [1, 2, 3], ["catalog"], TimeSpan.FromMinutes(1), default);
        Assert.Equal([1, 2, 3], await store.GetAsync("GET/products", default));
        await store.EvictByTagAsync("catalog", default);
        Assert.Null(await store.GetAsync("GET/products", default));
        steps.Add("output-cache");

        // Sessions: create, load, write, rotate, list, revoke all.
        var sessions = services.GetRequiredService<ISessionStore>();
        var first = await sessions.CreateAsync("user-1", clientDescription: "round");
        var second = await sessions.CreateAsync("user-1");
        Assert.Equal("user-1", (await sessions.GetAsync(first.Id))?.UserId);
        Assert.True(await sessions.SetValueAsync(first.Id, "cart", 3));
        Assert.Equal(3, (await sessions.GetAsync(first.Id))!.Get<int>("cart"));
        var rotated = await sessions.RotateAsync(first.Id);
        Assert.NotNull(rotated);
        Assert.Null(await sessions.GetAsync(first.Id));
        Assert.Equal(2, (await sessions.ListAsync("user-1")).Count);
        Assert.Equal(2, await sessions.DestroyAllAsync("user-1"));
        Assert.Null(await sessions.GetAsync(rotated.Id));
        Assert.Null(await sessions.GetAsync(second.Id));
        steps.Add("sessions");

        // Rate limiting: every algorithm answers from Redis (the third call is denied: a fail-open would allow it).
        var limiter = services.GetRequiredService<IRedisRateLimiter>();
        RateLimitPolicy[] policies =
        [
            RateLimitPolicy.FixedWindow("fw", 2, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.SlidingWindowLog("swl", 2, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.SlidingWindowCounter("swc", 2, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.TokenBucket("tb", 2, 1, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.Gcra("gcra", 2, TimeSpan.FromMinutes(1), burst: 2),
        ];
        foreach (var policy in policies)
        {
            var decisions = new List<RateLimitDecision>();
            for (var i = 0; i < 3; i++)
            {
                decisions.Add(await limiter.CheckAsync("client-1", [policy]));
            }

            Assert.All(decisions, d => Assert.Equal(RateLimitDecisionSource.Redis, d.Source));
            Assert.Equal([true, true, false], decisions.Select(d => d.IsAllowed));
        }

        var concurrency = RateLimitPolicy.Concurrency("conc", 1, TimeSpan.FromSeconds(30));
        var held = await limiter.AcquireAsync("client-1", [concurrency]);
        Assert.True(held.IsAcquired);
        var refused = await limiter.AcquireAsync("client-1", [concurrency]);
        Assert.False(refused.IsAcquired);
        Assert.Equal(RateLimitDecisionSource.Redis, refused.Decision.Source);
        await held.DisposeAsync();
        var again = await limiter.AcquireAsync("client-1", [concurrency]);
        Assert.True(again.IsAcquired);
        await again.DisposeAsync();
        steps.Add("rate-limiting");

        // Locks: acquire / refuse / extend / release, read-write, semaphore, fenced write.
        var locks = services.GetRequiredService<IRedisLockProvider>();
        var mutex = locks.CreateLock("order-7", new RedisLockSettings { Expiry = TimeSpan.FromSeconds(10) });
        var handle = await mutex.TryAcquireAsync();
        Assert.NotNull(handle);
        Assert.Null(await mutex.TryAcquireAsync());
        Assert.True(await handle.ExtendAsync(TimeSpan.FromSeconds(20)));
        var fence = handle.FencingToken;
        await handle.DisposeAsync();
        await using (var next = await mutex.AcquireAsync(TimeSpan.FromSeconds(5)))
        {
            Assert.True(next.FencingToken > fence);
            var resource = connection.Keys.Key("round", "payment-7");
            Assert.True(await locks.FencedWriteAsync(resource, "paid", next.FencingToken, TimeSpan.FromMinutes(1)));
            Assert.False(await locks.FencedWriteAsync(resource, "stale", fence, TimeSpan.FromMinutes(1)));
            Assert.Equal(("paid", next.FencingToken), ((string?)(await locks.FencedReadAsync(resource)).Value, next.FencingToken));
        }

        var rw = locks.CreateReadWriteLock("catalog");
        var read1 = await rw.TryAcquireReadAsync();
        var read2 = await rw.TryAcquireReadAsync();
        Assert.NotNull(read1);
        Assert.NotNull(read2);
        Assert.Null(await rw.TryAcquireWriteAsync());
        await read1.DisposeAsync();
        await read2.DisposeAsync();
        await using (var write = await rw.AcquireWriteAsync(TimeSpan.FromSeconds(5)))
        {
            Assert.Null(await rw.TryAcquireReadAsync());
        }

        var semaphore = locks.CreateSemaphore("exports", 2);
        var slot1 = await semaphore.TryAcquireAsync();
        var slot2 = await semaphore.TryAcquireAsync();
        Assert.NotNull(slot1);
        Assert.NotNull(slot2);
        Assert.Null(await semaphore.TryAcquireAsync());
        await slot1.DisposeAsync();
        var slot3 = await semaphore.TryAcquireAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(slot3);
        await slot2.DisposeAsync();
        await slot3.DisposeAsync();
        steps.Add("locks");

        // Leaderboards.
        var board = services.GetRequiredService<ILeaderboards>().Get(new LeaderboardDefinition("game") { Windows = LeaderboardWindows.Daily });
        Assert.True(await board.SetScoreAsync("alice", 10));
        Assert.True(await board.SetScoreAsync("bob", 20));
        Assert.Equal(25, await board.IncrementAsync("alice", 15));
        Assert.Equal(["alice", "bob"], (await board.GetTopAsync(2)).Select(e => e.Member));
        Assert.Equal(2L, await board.GetRankAsync("bob"));
        Assert.Equal(25, await board.Window(LeaderboardPeriod.Daily).GetScoreAsync("alice"));
        steps.Add("leaderboards");

        // Data structures: a typed hash and a capped recent list.
        var structures = services.GetRequiredService<IRedisDataStructures>();
        var items = structures.Hash<RoundItem>("items");
        await items.SetAsync("1", new RoundItem("pen", 0, 5), TimeSpan.FromMinutes(5));
        Assert.Equal(2, await items.IncrementAsync("1", i => i.Views, 2));
        Assert.Equal(new RoundItem("pen", 2, 5), await items.GetAsync("1"));
        Assert.True(await items.DeleteAsync("1"));
        var recent = structures.RecentList("viewed", new RecentListOptions { Capacity = 3, Expiry = TimeSpan.FromMinutes(5) });
        foreach (var item in new[] { "a", "b", "c", "d", "b" })
        {
            await recent.PushAsync("user-1", item);
        }

        Assert.Equal(["b", "d", "c"], await recent.GetAsync("user-1"));
        steps.Add("data-structures");

        // Messaging: pub/sub, then the stream: a new entry handled, and the crashed consumer's entry claimed.
        var bus = services.GetRequiredService<IMessageBus>();
        var received = new TaskCompletionSource<RoundMessage?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (await bus.SubscribeAsync<RoundMessage>("events", (m, _) =>
        {
            received.TrySetResult(m);
            return Task.CompletedTask;
        }))
        {
            Assert.Equal(1, await bus.PublishAsync("events", new RoundMessage(9, "hello")));
            Assert.Equal(9, (await received.Task.WaitAsync(Within))?.Id);
        }

        await services.GetRequiredService<IStreamProducer>().AddAsync(Stream, new RoundMessage(2, "new"));
        var probe = services.GetRequiredService<RoundProbe>();
        var streamKey = connection.Keys.TaggedKey("stream", Stream);
        await RedisKit.Testing.Eventually.SucceedsAsync(
            async () =>
            {
                Assert.True(probe.Deliveries.ContainsKey(1) && probe.Deliveries.ContainsKey(2), "both entries handled");
                Assert.Equal(0, (await adminDb.StreamPendingAsync(streamKey, Group)).PendingMessageCount);
                return true;
            },
            Within);
        // Entry 1 sat in the crashed consumer's pending list and "live" reads only new entries (">") and its own
        // history: only a claim (XAUTOCLAIM) can have handed it over.
        Assert.Equal([1, 2], probe.Deliveries.Keys.Order());
        steps.Add("messaging");

        // Health check and stats.
        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, report.Status);
        var stats = await services.GetRequiredService<RedisStats>().GetAsync();
        if (infoAllowed)
        {
            Assert.Single(stats.Nodes);
            Assert.True(stats.Keys > 0);
        }
        else
        {
            // INFO denied: the node is left out of the snapshot (no figures), the call does not fail.
            Assert.Empty(stats.Nodes);
        }

        steps.Add("health-and-stats");

        // Everything above really wrote to this server under the prefix.
        var capabilitiesSeen = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var key in admin.GetServer(admin.GetEndPoints()[0]).KeysAsync(pattern: prefix + ":*", pageSize: 500))
        {
            capabilitiesSeen.Add(key.ToString().Split(':')[1]);
        }

        Assert.Superset(new HashSet<string> { "ratelimit", "lock", "lb", "recent", "stream", "round" }, capabilitiesSeen);
        return steps;
    }
}

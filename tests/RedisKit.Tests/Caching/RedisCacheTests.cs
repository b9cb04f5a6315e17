using System.Text;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Caching;

public sealed record Item(int Id, string Name);

public class RedisCacheTests
{
    private static async Task<(CacheInstance Instance, string Prefix)> StartAsync(Action<CacheOptions>? configure = null, TimeProvider? time = null)
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        return (await CacheInstance.StartAsync(server.ConnectionString, prefix, configure, time), prefix);
    }

    [Fact]
    public async Task SetThenGet_RoundTripsThroughBothLevels()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;

        await app.Cache.SetAsync("item:1", new Item(1, "Lamp"));

        Assert.Equal(new Item(1, "Lamp"), await app.Cache.GetAsync<Item>("item:1"));
        var result = await app.Cache.TryGetAsync<Item>("item:1");
        Assert.True(result.Found);
        Assert.True(await app.Cache.ExistsAsync("item:1"));
    }

    [Fact]
    public async Task TryGet_MissingKey_DoesNotCreateAnything()
    {
        var (app, prefix) = await StartAsync();
        await using var _ = app;
        var client = await Servers.RedisClient();

        var result = await app.Cache.TryGetAsync<Item>("nothing-here");

        Assert.False(result.Found);
        Assert.False(await client.GetDatabase().KeyExistsAsync($"{prefix}:cache:{{nothing-here}}"));
        Assert.False(await app.Cache.ExistsAsync("nothing-here"));
    }

    [Fact]
    public async Task GetOrSet_ThousandConcurrentCallers_RunFactoryOnce()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;
        var calls = 0;

        var results = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => app.Cache.GetOrSetAsync("hot", async _ =>
        {
            Interlocked.Increment(ref calls);
            await Task.Delay(200);
            return new Item(7, "Hot");
        }).AsTask()));

        Assert.Equal(1, calls);
        Assert.All(results, r => Assert.Equal(new Item(7, "Hot"), r));
    }

    [Fact]
    public async Task GetOrSet_ThreeInstancesConcurrently_RunFactoryOnceAcrossInstances()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var instances = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => CacheInstance.StartAsync(server.ConnectionString, prefix)));
        var calls = 0;
        try
        {
            var all = instances.SelectMany(i => Enumerable.Range(0, 100).Select(_ => i.Cache.GetOrSetAsync("shared", async _ =>
            {
                Interlocked.Increment(ref calls);
                await Task.Delay(300);
                return 42;
            }).AsTask()));

            var results = await Task.WhenAll(all);

            Assert.Equal(1, calls);
            Assert.All(results, r => Assert.Equal(42, r));
        }
        finally
        {
            foreach (var instance in instances)
            {
                await instance.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Set_OnOneInstance_EvictsL1OnTheOther()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var a = await CacheInstance.StartAsync(server.ConnectionString, prefix);
        await using var b = await CacheInstance.StartAsync(server.ConnectionString, prefix);
        await a.Cache.SetAsync("k", "v1");
        Assert.Equal("v1", await b.Cache.GetAsync<string>("k"));

        await a.Cache.SetAsync("k", "v2");

        Assert.Equal("v2", await TestHost.EventuallyAsync(async () =>
        {
            var value = await b.Cache.GetAsync<string>("k");
            return value == "v2" ? value : throw new InvalidOperationException(value);
        }, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task RemoveByTag_OnOneInstance_InvalidatesEveryInstanceAndLevel()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var a = await CacheInstance.StartAsync(server.ConnectionString, prefix);
        await using var b = await CacheInstance.StartAsync(server.ConnectionString, prefix);
        var version = 1;
        Task<int> Factory(CacheFactoryContext<int> _, CancellationToken __) => Task.FromResult(version);
        Assert.Equal(1, await a.Cache.GetOrSetAsync<int>("p:1", Factory, tags: ["products"]));
        Assert.Equal(1, await b.Cache.GetOrSetAsync<int>("p:1", Factory, tags: ["products"]));
        Assert.Equal(1, await b.Cache.GetOrSetAsync<int>("p:2", Factory, tags: ["products", "other"]));

        version = 2;
        await a.Cache.RemoveByTagAsync("products");

        Assert.Equal(2, await a.Cache.GetOrSetAsync<int>("p:1", Factory, tags: ["products"]));
        Assert.Equal(2, await TestHost.EventuallyAsync(async () =>
        {
            var value = await b.Cache.GetOrSetAsync<int>("p:2", Factory, tags: ["products", "other"]);
            return value == 2 ? value : throw new InvalidOperationException();
        }, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task GetOrSet_SlowFactoryRacingKeyRemoval_DoesNotWriteOldResultBack()
    {
        var (app, prefix) = await StartAsync(o => o.EnableDistributedLock = false);
        await using var _ = app;
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();

        var slow = app.Cache.GetOrSetAsync("race", async _ =>
        {
            started.SetResult();
            await release.Task;
            return "computed-before-invalidation";
        }).AsTask();
        await started.Task;
        await app.Cache.RemoveAsync("race");
        release.SetResult();
        Assert.Equal("computed-before-invalidation", await slow);

        var client = await Servers.RedisClient();
        Assert.False(await client.GetDatabase().KeyExistsAsync($"{prefix}:cache:{{race}}"));
        Assert.Equal("fresh", await app.Cache.GetOrSetAsync("race", _ => Task.FromResult("fresh")));
    }

    [Fact]
    public async Task GetOrSet_SlowFactoryRacingTagInvalidation_OldResultIsNeverServed()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var a = await CacheInstance.StartAsync(server.ConnectionString, prefix);
        await using var b = await CacheInstance.StartAsync(server.ConnectionString, prefix);
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();

        var slow = a.Cache.GetOrSetAsync("tagged-race", async _ =>
        {
            started.SetResult();
            await release.Task;
            return "old";
        }, tags: ["t1"]).AsTask();
        await started.Task;
        await b.Cache.RemoveByTagAsync("t1");
        release.SetResult();
        await slow;

        Assert.Equal("new", await b.Cache.GetOrSetAsync("tagged-race", _ => Task.FromResult("new"), tags: ["t1"]));
        Assert.Equal("new", await TestHost.EventuallyAsync(async () =>
        {
            var value = await a.Cache.GetOrSetAsync("tagged-race", _ => Task.FromResult("new"), tags: ["t1"]);
            return value == "new" ? value : throw new InvalidOperationException(value);
        }, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task RemoveByPrefix_GlobCharactersInInput_RemoveOnlyLiteralMatches()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;
        string[] keys = ["user:*a", "user:*b", "user:1", "user:2", "userx", "user:[1]"];
        foreach (var key in keys)
        {
            await app.Cache.SetAsync(key, key);
        }

        var removed = await app.Cache.RemoveByPrefixAsync("user:*");

        Assert.Equal(2, removed);
        Assert.False((await app.Cache.TryGetAsync<string>("user:*a")).Found);
        Assert.False((await app.Cache.TryGetAsync<string>("user:*b")).Found);
        foreach (var survivor in new[] { "user:1", "user:2", "userx", "user:[1]" })
        {
            Assert.Equal(survivor, await app.Cache.GetAsync<string>(survivor));
        }

        Assert.Equal(1, await app.Cache.RemoveByPrefixAsync("user:["));
    }

    [Fact]
    public async Task GetOrSet_FactoryFailsAfterExpiry_ServesStaleValue()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (app, _) = await StartAsync(time: time);
        await using var _ = app;
        var options = new CacheEntryOptions { Duration = TimeSpan.FromMinutes(1), FailSafeMaxDuration = TimeSpan.FromHours(1) };
        await app.Cache.GetOrSetAsync("fs", _ => Task.FromResult("good"), options);

        time.Advance(TimeSpan.FromMinutes(2));
        var value = await app.Cache.GetOrSetAsync<string>("fs", _ => throw new InvalidOperationException("database down"), options);

        Assert.Equal("good", value);
    }

    [Fact]
    public async Task GetOrSet_FactoryFailsWithoutFailSafe_Throws()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (app, _) = await StartAsync(time: time);
        await using var _ = app;
        var options = new CacheEntryOptions { Duration = TimeSpan.FromMinutes(1), FailSafe = false };
        await app.Cache.GetOrSetAsync("nofs", _ => Task.FromResult("good"), options);

        time.Advance(TimeSpan.FromMinutes(2));

        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await app.Cache.GetOrSetAsync<string>("nofs", _ => throw new InvalidOperationException("database down"), options));
    }

    [Fact]
    public async Task GetOrSet_SoftTimeoutWithStale_ReturnsStaleAndStoresResultInBackground()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;
        var shortLived = new CacheEntryOptions { Duration = TimeSpan.FromMilliseconds(100), FactorySoftTimeout = TimeSpan.FromMilliseconds(50) };
        await app.Cache.GetOrSetAsync("soft", _ => Task.FromResult("v1"), shortLived);
        await Task.Delay(150);

        var value = await app.Cache.GetOrSetAsync("soft", async _ =>
        {
            await Task.Delay(500);
            return "v2";
        }, shortLived with { Duration = TimeSpan.FromMinutes(1) });

        Assert.Equal("v1", value);
        Assert.Equal("v2", await TestHost.EventuallyAsync(async () =>
        {
            var current = await app.Cache.GetAsync<string>("soft");
            return current == "v2" ? current : throw new InvalidOperationException(current);
        }, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task GetOrSet_HardTimeoutWithoutStale_ThrowsTimeoutAndStillStoresResult()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;
        var options = new CacheEntryOptions { FactoryHardTimeout = TimeSpan.FromMilliseconds(100) };

        await Assert.ThrowsAsync<TimeoutException>(async () => await app.Cache.GetOrSetAsync("hard", async _ =>
        {
            await Task.Delay(400);
            return "late";
        }, options));

        Assert.Equal("late", await TestHost.EventuallyAsync(async () =>
            await app.Cache.GetAsync<string>("hard") ?? throw new InvalidOperationException(), TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task GetOrSet_PastEagerRefreshThreshold_ReturnsCachedAndRefreshesInBackground()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (app, _) = await StartAsync(time: time);
        await using var _ = app;
        var options = new CacheEntryOptions { Duration = TimeSpan.FromMinutes(10), EagerRefreshThreshold = 0.5 };
        await app.Cache.GetOrSetAsync("eager", _ => Task.FromResult(1), options);

        time.Advance(TimeSpan.FromMinutes(6));
        var value = await app.Cache.GetOrSetAsync("eager", _ => Task.FromResult(2), options);

        Assert.Equal(1, value);
        Assert.Equal(2, await TestHost.EventuallyAsync(async () =>
        {
            var current = await app.Cache.GetAsync<int>("eager");
            return current == 2 ? current : throw new InvalidOperationException();
        }, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task GetOrSet_FactoryReportsNotFound_CachesNegativeEntry()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;
        var calls = 0;
        Task<Item?> Missing(CacheFactoryContext<Item?> ctx, CancellationToken __)
        {
            calls++;
            ctx.NotFound(TimeSpan.FromMinutes(1));
            return Task.FromResult<Item?>(null);
        }

        Assert.Null(await app.Cache.GetOrSetAsync<Item?>("404", Missing));
        Assert.Null(await app.Cache.GetOrSetAsync<Item?>("404", Missing));

        Assert.Equal(1, calls);
        Assert.True((await app.Cache.TryGetAsync<Item?>("404")).IsNotFound);
    }

    [Fact]
    public async Task GetOrSet_FactorySkipsCaching_RunsEveryTime_AndAdaptsDuration()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;
        var calls = 0;

        for (var i = 0; i < 3; i++)
        {
            await app.Cache.GetOrSetAsync<string?>("skip", (ctx, _) =>
            {
                calls++;
                ctx.SkipCaching();
                return Task.FromResult<string?>(null);
            });
        }

        await app.Cache.GetOrSetAsync<string>("adapted", (ctx, _) =>
        {
            ctx.Options = ctx.Options with { Duration = TimeSpan.FromSeconds(42) };
            return Task.FromResult("x");
        });

        Assert.Equal(3, calls);
        var ttl = await app.Cache.TimeToLiveAsync("adapted");
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(42));
    }

    [Fact]
    public async Task CorruptedEntry_IsAMissAndIsRemoved()
    {
        var (app, prefix) = await StartAsync();
        await using var _ = app;
        var database = (await Servers.RedisClient()).GetDatabase();
        var key = $"{prefix}:cache:{{corrupt}}";
        await database.StringSetAsync(key, Encoding.UTF8.GetBytes("definitely not an envelope"), TimeSpan.FromMinutes(1));

        var result = await app.Cache.TryGetAsync<Item>("corrupt");

        Assert.False(result.Found);
        await TestHost.EventuallyAsync(async () => await database.KeyExistsAsync(key) ? throw new InvalidOperationException() : true, TimeSpan.FromSeconds(2));
        Assert.Equal(new Item(1, "ok"), await app.Cache.GetOrSetAsync("corrupt", _ => Task.FromResult(new Item(1, "ok"))));
    }

    [Fact]
    public async Task CorruptedPayloadInValidEnvelope_IsAMiss()
    {
        var (app, prefix) = await StartAsync();
        await using var _ = app;
        await app.Cache.SetAsync("wrongtype", "a string, not an Item");

        var result = await app.Cache.TryGetAsync<Item>("wrongtype");

        Assert.False(result.Found);
    }

    [Fact]
    public async Task Set_ValueAboveMaxSize_ThrowsAndWritesNothing()
    {
        var (app, prefix) = await StartAsync(o => o.MaxValueBytes = 1024);
        await using var _ = app;

        var ex = await Assert.ThrowsAsync<CacheValueTooLargeException>(async () => await app.Cache.SetAsync("big", new string('x', 5000)));

        Assert.Contains("MaxValueBytes", ex.Message, StringComparison.Ordinal);
        Assert.False(await (await Servers.RedisClient()).GetDatabase().KeyExistsAsync($"{prefix}:cache:{{big}}"));
    }

    [Fact]
    public async Task Key_TooLong_ThrowsClearError()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;

        await Assert.ThrowsAsync<RedisKeyTooLongException>(async () => await app.Cache.GetAsync<string>(new string('k', 5000)));
    }

    [Fact]
    public async Task ExpirePersistTimeToLiveIncrement_Work()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;
        await app.Cache.SetAsync("ttl", 1, new CacheEntryOptions { Duration = TimeSpan.FromMinutes(5) });

        Assert.True(await app.Cache.ExpireAsync("ttl", TimeSpan.FromSeconds(20)));
        Assert.InRange((await app.Cache.TimeToLiveAsync("ttl"))!.Value, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20));
        Assert.True(await app.Cache.PersistAsync("ttl"));
        Assert.Equal(Timeout.InfiniteTimeSpan, await app.Cache.TimeToLiveAsync("ttl"));
        Assert.Equal(1, await app.Cache.GetAsync<int>("ttl"));
        Assert.False(await app.Cache.ExpireAsync("absent", TimeSpan.FromSeconds(1)));
        Assert.Null(await app.Cache.TimeToLiveAsync("absent"));

        Assert.Equal(1, await app.Cache.IncrementAsync("views", timeToLive: TimeSpan.FromMinutes(1)));
        Assert.Equal(6, await app.Cache.IncrementAsync("views", 5));
    }

    [Fact]
    public async Task GetManyAndSetMany_RoundTrip()
    {
        var (app, _) = await StartAsync();
        await using var _ = app;
        await app.Cache.SetManyAsync(Enumerable.Range(0, 50).Select(i => KeyValuePair.Create($"m:{i}", i)));

        var found = await app.Cache.GetManyAsync<int>(Enumerable.Range(0, 60).Select(i => $"m:{i}").ToArray());

        Assert.Equal(50, found.Count);
        Assert.Equal(49, found["m:49"]);
    }
}

public class CacheMultiProcessTests
{
    [Fact]
    public async Task GetOrSet_ThreeSeparateProcessesMissTogether_RunFactoryOnce()
    {
        const int Processes = 3;
        const int CallersEach = 100;
        var server = await Servers.Redis();
        var database = (await Servers.RedisClient()).GetDatabase();
        var prefix = Servers.NewPrefix();
        var worker = Workers.PathOf("RedisKit.Cache.Worker");

        var runs = Enumerable.Range(0, Processes).Select(_ => Workers.RunAsync(worker, server.ConnectionString, prefix, "stampede", CallersEach)).ToArray();
        await TestHost.EventuallyAsync(async () => (long)await database.StringGetAsync(prefix + ":ready") == Processes ? true : throw new InvalidOperationException(), TimeSpan.FromSeconds(60));
        await database.StringSetAsync(prefix + ":go", 1, TimeSpan.FromMinutes(1));
        var results = await Task.WhenAll(runs);

        Assert.All(results, r => Assert.True(r.ExitCode == 0 && r.Output.Contains($"done {CallersEach}", StringComparison.Ordinal), r.Output));
        Assert.Equal(1, (long)await database.StringGetAsync(prefix + ":factory-calls"));
    }
}

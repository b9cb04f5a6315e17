using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Locking;

public class RedisLockTests
{
    private static async Task<(ServiceProvider Provider, IRedisLockProvider Locks, IDatabase Database)> StartAsync(Action<LockingOptions>? configure = null, string? connectionString = null)
    {
        connectionString ??= (await Servers.Redis()).ConnectionString;
        var provider = TestHost.Build(connectionString, configure: b => b.AddLocking(configure));
        var database = await provider.GetRequiredService<IRedisConnection>().GetDatabaseAsync();
        return (provider, provider.GetRequiredService<IRedisLockProvider>(), database);
    }

    [Fact]
    public async Task TryAcquire_FreeLock_ReturnsHandleWithFencingToken()
    {
        var (provider, locks, _) = await StartAsync();
        await using var _ = provider;

        await using var handle = await locks.CreateLock("orders").TryAcquireAsync();

        Assert.NotNull(handle);
        Assert.Equal("orders", handle.Name);
        Assert.Equal(1, handle.FencingToken);
        Assert.False(handle.HandleLostToken.IsCancellationRequested);
    }

    [Fact]
    public async Task TryAcquire_HeldBySomeoneElse_ReturnsNullAndAcquireThrowsTimeout()
    {
        var (provider, locks, _) = await StartAsync();
        await using var _ = provider;
        var redisLock = locks.CreateLock("held");
        await using var holder = await redisLock.AcquireAsync();

        var immediate = await redisLock.TryAcquireAsync();
        var waited = await redisLock.TryAcquireAsync(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAsync<TimeoutException>(async () => await redisLock.AcquireAsync(TimeSpan.FromMilliseconds(100)));

        Assert.Null(immediate);
        Assert.Null(waited);
    }

    [Fact]
    public async Task Acquire_AfterRelease_SucceedsAndDisposeTwiceIsHarmless()
    {
        var (provider, locks, _) = await StartAsync();
        await using var _ = provider;
        var redisLock = locks.CreateLock("reuse");

        var first = await redisLock.AcquireAsync();
        await first.DisposeAsync();
        await first.DisposeAsync();
        await using var second = await redisLock.TryAcquireAsync();

        Assert.NotNull(second);
        Assert.True(second.FencingToken > first.FencingToken);
    }

    [Fact]
    public async Task Acquire_ManyTasksDoingNonAtomicIncrements_FinalCountIsExact()
    {
        const int Tasks = 8;
        const int Iterations = 25;
        var (provider, locks, database) = await StartAsync();
        await using var _ = provider;
        var counter = (RedisKey)(Servers.NewPrefix() + ":counter");

        // Each task has its own lock object, as separate callers would.
        await Task.WhenAll(Enumerable.Range(0, Tasks).Select(_ => Task.Run(async () =>
        {
            var redisLock = locks.CreateLock("counter");
            for (var i = 0; i < Iterations; i++)
            {
                await using var handle = await redisLock.AcquireAsync(TimeSpan.FromSeconds(30));
                var value = (long?)await database.StringGetAsync(counter) ?? 0;
                await Task.Yield();
                await database.StringSetAsync(counter, value + 1);
            }
        })));

        Assert.Equal(Tasks * Iterations, (long)await database.StringGetAsync(counter));
    }

    [Fact]
    public async Task Acquire_ThreeSeparateProcessesDoingNonAtomicIncrements_FinalCountIsExact()
    {
        const int Processes = 3;
        const int Iterations = 40;
        var server = await Servers.Redis();
        var database = (await Servers.RedisClient()).GetDatabase();
        var prefix = Servers.NewPrefix();
        var counter = prefix + ":counter";
        var worker = Workers.PathOf("RedisKit.Locking.Worker");

        var runs = Enumerable.Range(0, Processes).Select(_ => Workers.RunAsync(worker, server.ConnectionString, prefix, "shared", counter, Iterations)).ToArray();
        var results = await Task.WhenAll(runs);

        Assert.All(results, r => Assert.True(r.ExitCode == 0, $"worker exited {r.ExitCode}: {r.Output}"));
        Assert.All(results, r => Assert.Contains($"done {Iterations}", r.Output, StringComparison.Ordinal));
        Assert.Equal(Processes * Iterations, (long)await database.StringGetAsync(counter));
    }

    [Fact]
    public async Task ReleaseAndExtend_ByFormerOwnerAfterExpiry_DoNotTouchTheNewOwnersLock()
    {
        var (provider, locks, database) = await StartAsync(o => o.AutoExtend = false);
        await using var _ = provider;
        var redisLock = locks.CreateLock("stolen", new RedisLockSettings { Expiry = TimeSpan.FromMilliseconds(200) });
        var ownerKey = provider.GetRequiredService<IRedisConnection>().Keys.TaggedKey("lock", "stolen", "owner");

        var stale = await redisLock.AcquireAsync();
        await Task.Delay(400);
        await using var current = await redisLock.AcquireAsync(TimeSpan.FromSeconds(5));
        var ownerValue = await database.StringGetAsync(ownerKey);
        var staleExtended = await stale.ExtendAsync(TimeSpan.FromSeconds(30));
        await stale.DisposeAsync();

        Assert.False(staleExtended);
        Assert.Equal(ownerValue, await database.StringGetAsync(ownerKey));
        Assert.Null(await redisLock.TryAcquireAsync());
        Assert.True(current.FencingToken > stale.FencingToken);
        Assert.True(await current.ExtendAsync());
    }

    [Fact]
    public async Task ReleaseScript_WithAnotherToken_ReturnsZeroAndKeepsTheLock()
    {
        var (provider, locks, database) = await StartAsync();
        await using var _ = provider;
        await using var handle = await locks.CreateLock("owner-check").AcquireAsync();
        var ownerKey = provider.GetRequiredService<IRedisConnection>().Keys.TaggedKey("lock", "owner-check", "owner");

        var released = (long)await RedisLock.ReleaseScript.EvaluateAsync(database, [ownerKey], ["not-the-owner", "", ""]);
        var extended = (long)await RedisLock.ExtendScript.EvaluateAsync(database, [ownerKey], ["not-the-owner", 60000]);

        Assert.Equal(0, released);
        Assert.Equal(0, extended);
        Assert.True(await database.KeyExistsAsync(ownerKey));
    }

    [Fact]
    public async Task Extend_AfterExpiry_DoesNotRecreateTheLockAndCancelsHandleLost()
    {
        var (provider, locks, database) = await StartAsync(o => o.AutoExtend = false);
        await using var _ = provider;
        var handle = await locks.CreateLock("expired", new RedisLockSettings { Expiry = TimeSpan.FromMilliseconds(150) }).AcquireAsync();
        var ownerKey = provider.GetRequiredService<IRedisConnection>().Keys.TaggedKey("lock", "expired", "owner");
        var lost = handle.HandleLostToken;

        await Task.Delay(400);
        var extended = await handle.ExtendAsync(TimeSpan.FromSeconds(30));

        Assert.False(extended);
        Assert.False(await database.KeyExistsAsync(ownerKey));
        Assert.True(lost.IsCancellationRequested);
        await handle.DisposeAsync();
    }

    [Fact]
    public async Task HandleLostToken_LockDeletedWhileAutoExtending_IsCancelled()
    {
        var (provider, locks, database) = await StartAsync(o =>
        {
            o.Expiry = TimeSpan.FromSeconds(3);
            o.ExtensionInterval = TimeSpan.FromMilliseconds(100);
        });
        await using var _ = provider;
        await using var handle = await locks.CreateLock("deleted").AcquireAsync();
        var lost = handle.HandleLostToken;
        var ownerKey = provider.GetRequiredService<IRedisConnection>().Keys.TaggedKey("lock", "deleted", "owner");

        await database.KeyDeleteAsync(ownerKey);
        var cancelled = new TaskCompletionSource();
        using var registration = lost.Register(() => cancelled.TrySetResult());
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(lost.IsCancellationRequested);
        Assert.False(await handle.ExtendAsync());
        Assert.False(await database.KeyExistsAsync(ownerKey));
    }

    [Fact]
    public async Task AutoExtend_HeldLongerThanExpiry_KeepsTheLock()
    {
        // Extended every third of the expiry (500 ms): the lock survives scheduling stalls of up to about a second
        // on a loaded machine, and is held for more than twice its expiry.
        var (provider, locks, _) = await StartAsync(o => o.Expiry = TimeSpan.FromMilliseconds(1500));
        await using var _ = provider;
        var redisLock = locks.CreateLock("kept");
        await using var handle = await redisLock.AcquireAsync();

        await Task.Delay(3500);

        Assert.Null(await redisLock.TryAcquireAsync());
        Assert.False(handle.HandleLostToken.IsCancellationRequested);
    }

    [Fact]
    public async Task AutoExtend_MaxHoldTimeReached_LockExpiresAndHandleLostIsCancelled()
    {
        var (provider, locks, _) = await StartAsync(o =>
        {
            o.Expiry = TimeSpan.FromMilliseconds(300);
            o.MaxHoldTime = TimeSpan.FromMilliseconds(500);
        });
        await using var _ = provider;
        var redisLock = locks.CreateLock("bounded");
        await using var handle = await redisLock.AcquireAsync();
        var lost = handle.HandleLostToken;

        await using var next = await redisLock.TryAcquireAsync(TimeSpan.FromSeconds(5));

        Assert.NotNull(next);
        await TestHost.EventuallyAsync(() => Task.FromResult(lost.IsCancellationRequested ? true : throw new InvalidOperationException("not yet")), TimeSpan.FromSeconds(5));
        Assert.True(next.FencingToken > handle.FencingToken);
    }

    [Fact]
    public async Task FencingToken_SuccessiveAcquisitionsAcrossProviders_StrictlyIncrease()
    {
        var prefix = Servers.NewPrefix();
        var server = await Servers.Redis();
        await using var a = TestHost.Build(server.ConnectionString, prefix, b => b.AddLocking());
        await using var b = TestHost.Build(server.ConnectionString, prefix, b => b.AddLocking());
        var lockA = a.GetRequiredService<IRedisLockProvider>().CreateLock("fenced");
        var lockB = b.GetRequiredService<IRedisLockProvider>().CreateLock("fenced");

        var tokens = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            await using var handle = await (i % 2 == 0 ? lockA : lockB).AcquireAsync(TimeSpan.FromSeconds(5));
            tokens.Add(handle.FencingToken);
        }

        Assert.Equal(tokens.Order(), tokens);
        Assert.Equal(tokens.Count, tokens.Distinct().Count());
    }

    [Fact]
    public async Task FencedWrite_StaleHolderAfterLockPassedOn_IsRejected()
    {
        var (provider, locks, _) = await StartAsync(o => o.AutoExtend = false);
        await using var _ = provider;
        var redisLock = locks.CreateLock("payment", new RedisLockSettings { Expiry = TimeSpan.FromMilliseconds(150) });
        var resource = (RedisKey)(Servers.NewPrefix() + ":payment:42");

        // The first holder "pauses" past its expiry (a GC pause, a stopped VM); a second holder takes over and writes.
        await using var stale = await redisLock.AcquireAsync();
        await Task.Delay(300);
        await using var current = await redisLock.AcquireAsync(TimeSpan.FromSeconds(5));
        var currentWrote = await locks.FencedWriteAsync(resource, "paid-by-current", current.FencingToken);
        var staleWrote = await locks.FencedWriteAsync(resource, "paid-by-stale", stale.FencingToken);
        var currentWroteAgain = await locks.FencedWriteAsync(resource, "paid-by-current-2", current.FencingToken);
        var (value, fence) = await locks.FencedReadAsync(resource);

        Assert.True(currentWrote);
        Assert.False(staleWrote);
        Assert.True(currentWroteAgain);
        Assert.Equal("paid-by-current-2", (string?)value);
        Assert.Equal(current.FencingToken, fence);
    }

    [Fact]
    public async Task Waiter_HolderReleases_IsWokenByTheReleaseBeforeItsNextRetry()
    {
        // Retries every 30 s: a waiter that gets the lock within the 10 s timeout was woken by the release (in this
        // process, by its answer; WaiterWakeTests covers the message that wakes another process).
        var (provider, locks, _) = await StartAsync(o =>
        {
            o.MinRetryDelay = TimeSpan.FromSeconds(30);
            o.MaxRetryDelay = TimeSpan.FromSeconds(30);
        });
        await using var _ = provider;
        var redisLock = locks.CreateLock("notified");
        var holder = await redisLock.AcquireAsync();

        var waiters = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            var handle = await redisLock.TryAcquireAsync(TimeSpan.FromSeconds(10));
            if (handle is null)
            {
                return false;
            }

            await handle.DisposeAsync();
            return true;
        })).ToArray();
        await Task.Delay(300);
        var server = await Servers.Redis();
        var channel = provider.GetRequiredService<IRedisConnection>().Keys.Key("lock", "released").ToString();
        var subscribers = await server.CliAsync("PUBSUB", "NUMSUB", channel);
        await holder.DisposeAsync();
        var acquired = await Task.WhenAll(waiters);

        Assert.EndsWith("1", subscribers.Trim(), StringComparison.Ordinal);
        Assert.All(acquired, Assert.True);
    }

    [Fact]
    public async Task WithLockAsync_WorkThrows_LockIsReleased()
    {
        var (provider, locks, _) = await StartAsync();
        await using var _ = provider;

        var result = await locks.WithLockAsync("job", async (handle, ct) =>
        {
            await Task.Yield();
            return handle.FencingToken;
        });
        await Assert.ThrowsAsync<InvalidOperationException>(() => locks.WithLockAsync("job", (_, _) => throw new InvalidOperationException("boom")));
        await using var after = await locks.CreateLock("job").TryAcquireAsync();

        Assert.Equal(1, result);
        Assert.NotNull(after);
    }

    [Fact]
    public async Task TryAcquire_RedisStopped_ThrowsConnectionErrorAndWorksAfterRestart()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var (provider, locks, _) = await StartAsync(connectionString: server.ConnectionString);
        await using var _ = provider;
        var redisLock = locks.CreateLock("outage");
        await (await redisLock.AcquireAsync()).DisposeAsync();

        await server.StopAsync();
        var error = await Assert.ThrowsAnyAsync<Exception>(async () => await redisLock.TryAcquireAsync());
        await server.StartAgainAsync();
        var handle = await TestHost.EventuallyAsync(async () => await redisLock.TryAcquireAsync(), TimeSpan.FromSeconds(15));

        Assert.True(error is RedisConnectionException or RedisTimeoutException, error.GetType().Name);
        Assert.NotNull(handle);
        await handle.DisposeAsync();
    }

    [Fact]
    public async Task Acquire_OnCluster_LocksOnEverySlotAreExclusiveAndFenced()
    {
        var cluster = await Servers.Cluster();
        await using var provider = TestHost.Build(cluster.ConnectionString, configure: b => b.AddLocking());
        var locks = provider.GetRequiredService<IRedisLockProvider>();
        var database = await provider.GetRequiredService<IRedisConnection>().GetDatabaseAsync();
        var prefix = Servers.NewPrefix();

        // Names spread over all three primaries; each lock guards its own counter.
        await Task.WhenAll(Enumerable.Range(0, 6).Select(n => Task.Run(async () =>
        {
            var name = "cluster-" + n;
            var counter = (RedisKey)$"{prefix}:{{{name}}}:counter";
            await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
            {
                var redisLock = locks.CreateLock(name);
                for (var i = 0; i < 10; i++)
                {
                    await using var handle = await redisLock.AcquireAsync(TimeSpan.FromSeconds(30));
                    var value = (long?)await database.StringGetAsync(counter) ?? 0;
                    await Task.Yield();
                    await database.StringSetAsync(counter, value + 1);
                }
            })));
            Assert.Equal(30, (long)await database.StringGetAsync(counter));
        })));

        await using var last = await locks.CreateLock("cluster-0").AcquireAsync();
        Assert.Equal(31, last.FencingToken);
        var rw = locks.CreateReadWriteLock("cluster-rw");
        await using (await rw.AcquireReadAsync())
        {
            Assert.Null(await rw.TryAcquireWriteAsync());
        }

        await using var semaphoreHandle = await locks.CreateSemaphore("cluster-sem", 1).AcquireAsync();
        Assert.NotNull(semaphoreHandle);
    }

    [Fact]
    public async Task AddLocking_ExtensionIntervalNotBelowExpiry_FailsAtStartWithTheSettingName()
    {
        var server = await Servers.Redis();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddRedisKit(o => o.ConnectionString = server.ConnectionString).AddLocking(o =>
        {
            o.Expiry = TimeSpan.FromSeconds(1);
            o.ExtensionInterval = TimeSpan.FromSeconds(2);
        });
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<LockingOptions>>().Value);

        Assert.Contains("ExtensionInterval", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AcquireAndRelease_AfterScriptFlush_ReloadTheScripts()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var (provider, locks, database) = await StartAsync(connectionString: server.ConnectionString);
        await using var _ = provider;
        var redisLock = locks.CreateLock("flushed");
        var ownerKey = provider.GetRequiredService<IRedisConnection>().Keys.TaggedKey("lock", "flushed", "owner");
        await (await redisLock.AcquireAsync()).DisposeAsync();

        await server.CliAsync("SCRIPT", "FLUSH");
        var handle = await redisLock.AcquireAsync();
        var held = await database.KeyExistsAsync(ownerKey);
        await server.CliAsync("SCRIPT", "FLUSH");
        await handle.DisposeAsync();

        // The release answered NOSCRIPT and was sent again with its source in the background (the one case where a
        // later command on the same connection can run before the release): it completes shortly after.
        await ((RedisLockProvider)locks).FlushReleasesAsync();
        Assert.Equal(2, handle.FencingToken);
        Assert.True(held);
        Assert.False(await database.KeyExistsAsync(ownerKey));
    }

    [Fact]
    public async Task AddLocking_WithoutLoggingRegistered_ProviderResolvesAndLocks()
    {
        var server = await Servers.Redis();
        var services = new ServiceCollection();
        services.AddRedisKit(o =>
        {
            o.ConnectionString = server.ConnectionString;
            o.KeyPrefix = Servers.NewPrefix();
        }).AddLocking();
        await using var provider = services.BuildServiceProvider();

        await using var handle = await provider.GetRequiredService<IRedisLockProvider>().CreateLock("no-logging").TryAcquireAsync();

        Assert.NotNull(handle);
    }
}

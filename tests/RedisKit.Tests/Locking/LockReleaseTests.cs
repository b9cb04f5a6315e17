using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RedisKit.Testing;
using RedisKit.Tests.Sessions;
using StackExchange.Redis;

namespace RedisKit.Tests.Locking;

/// <summary>
/// The release path: exactly one script call each way, the written-not-awaited default and its ordering guarantee,
/// <see cref="LockingOptions.AwaitRelease"/>, failures, and flushing pending releases on disposal and shutdown.
/// </summary>
public class LockReleaseTests
{
    internal static ServiceProvider Build(string connectionString, string prefix, Action<LockingOptions>? configure = null, CapturingLoggerProvider? logs = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            b.SetMinimumLevel(LogLevel.Debug);
            if (logs is not null)
            {
                b.AddProvider(logs);
            }
        });
        services.AddRedisKit(o =>
        {
            o.ConnectionString = connectionString;
            o.KeyPrefix = prefix;
            OutageReadyOptions.Apply(o); // a release written while the server is stopped fails at once
        }).AddLocking(configure);
        return services.BuildServiceProvider();
    }

    internal static Dictionary<string, long> ParseCommandStats(string info)
    {
        // cmdstat_evalsha:calls=40,usec=...
        var stats = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in info.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!line.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var calls = line[(colon + 1)..].Split(',')[0];
            stats[line[8..colon]] = long.Parse(calls["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        }

        return stats;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AcquireAndRelease_Uncontended_SendsOneEvalshaEachAndNothingElse(bool awaitRelease)
    {
        const int Rounds = 25;
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix(), o => o.AwaitRelease = awaitRelease);
        var locks = (RedisLockProvider)provider.GetRequiredService<IRedisLockProvider>();
        var redisLock = locks.CreateLock("counted");
        await (await redisLock.AcquireAsync()).DisposeAsync();
        await locks.FlushReleasesAsync();

        await server.CliAsync("CONFIG", "RESETSTAT");
        for (var i = 0; i < Rounds; i++)
        {
            await using var handle = await redisLock.AcquireAsync(TimeSpan.FromSeconds(5));
        }

        await locks.FlushReleasesAsync();
        var stats = ParseCommandStats(await server.CliAsync("INFO", "commandstats"));

        // Client commands: EVALSHA only (besides this test's own CONFIG RESETSTAT / INFO on redis-cli). The other
        // entries are the commands the two scripts run inside Redis: SET NX PX + INCR (acquire), GET + DEL of the owner
        // key + DEL of the waiting mark (release). No PUBLISH: nobody waited, so no attempt failed and set the mark.
        var expected = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["evalsha"] = 2 * Rounds,
            ["set"] = Rounds,
            ["incr"] = Rounds,
            ["get"] = Rounds,
            ["del"] = 2 * Rounds,
        };
        var observed = stats.Where(s => s.Key is not ("info" or "config|resetstat")).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);
        Assert.Equal(expected.OrderBy(e => e.Key), observed.OrderBy(e => e.Key));
    }

    [Fact]
    public async Task Dispose_Default_NextAcquireOnTheSameConnectionIsOrderedAfterTheRelease()
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        var redisLock = provider.GetRequiredService<IRedisLockProvider>().CreateLock("ordered");

        // A single attempt (no waiting) right after each release: it must find the lock free every time.
        var previous = await redisLock.AcquireAsync();
        for (var i = 0; i < 50; i++)
        {
            await previous.DisposeAsync();
            previous = await redisLock.TryAcquireAsync() ?? throw new Xunit.Sdk.XunitException($"round {i}: the release was not executed before the next acquire");
        }

        await previous.DisposeAsync();
    }

    [Theory]
    [InlineData("write")]
    [InlineData("read")]
    [InlineData("semaphore")]
    public async Task Dispose_Default_OtherPrimitivesFirstReleaseIsOrderedBeforeTheNextAcquire(string kind)
    {
        // A fresh provider prefix: the release scripts have never run on this connection, so this covers first use.
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        var locks = provider.GetRequiredService<IRedisLockProvider>();
        var rw = locks.CreateReadWriteLock("ordered-rw");
        var semaphore = locks.CreateSemaphore("ordered-sem", 1);

        for (var i = 0; i < 10; i++)
        {
            // Each release must be executed before the next single attempt, which conflicts with the previous holder.
            var handle = kind switch
            {
                "write" => await rw.AcquireWriteAsync(TimeSpan.FromSeconds(5)),
                "read" => await rw.AcquireReadAsync(TimeSpan.FromSeconds(5)),
                _ => await semaphore.AcquireAsync(TimeSpan.FromSeconds(5)),
            };
            await handle.DisposeAsync();
            var next = kind == "semaphore" ? await semaphore.TryAcquireAsync() : await rw.TryAcquireWriteAsync();
            Assert.True(next is not null, $"round {i}: the {kind} release ran after the next acquire");
            await next.DisposeAsync();
        }
    }

    [Fact]
    public async Task Dispose_Default_AnotherMultiplexerAcquiresEventually()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var first = Build(server.ConnectionString, prefix);
        await using var second = Build(server.ConnectionString, prefix);
        var handle = await first.GetRequiredService<IRedisLockProvider>().CreateLock("handover").AcquireAsync();
        var other = second.GetRequiredService<IRedisLockProvider>().CreateLock("handover");
        Assert.Null(await other.TryAcquireAsync());

        await handle.DisposeAsync();
        var next = await TestHost.EventuallyAsync(async () => await other.TryAcquireAsync() ?? throw new InvalidOperationException("still held"), TimeSpan.FromSeconds(5));

        Assert.True(next.FencingToken > handle.FencingToken);
        await next.DisposeAsync();
    }

    [Fact]
    public async Task Dispose_AwaitRelease_AnotherMultiplexerAcquiresImmediately()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var first = Build(server.ConnectionString, prefix, o => o.AwaitRelease = true);
        await using var second = Build(server.ConnectionString, prefix);
        var mine = first.GetRequiredService<IRedisLockProvider>().CreateLock("confirmed");
        var other = second.GetRequiredService<IRedisLockProvider>().CreateLock("confirmed");

        for (var i = 0; i < 20; i++)
        {
            var handle = await mine.AcquireAsync(TimeSpan.FromSeconds(5));
            await handle.DisposeAsync();
            var next = await other.TryAcquireAsync();
            Assert.NotNull(next);
            await next.DisposeAsync();
            await ((RedisLockProvider)second.GetRequiredService<IRedisLockProvider>()).FlushReleasesAsync();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dispose_ServerStoppedBetweenAcquireAndDispose_LoggedCountedAndNotThrown(bool awaitRelease)
    {
        await using var server = await RedisServerProcess.StartAsync();
        var logs = new CapturingLoggerProvider();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix(), o => o.AwaitRelease = awaitRelease, logs);
        var results = new List<string>();
        using var listener = ListenToReleases(provider, results);
        var locks = (RedisLockProvider)provider.GetRequiredService<IRedisLockProvider>();
        var handle = await locks.CreateLock("orphan").AcquireAsync();

        await server.StopAsync();
        await handle.DisposeAsync();
        await locks.FlushReleasesAsync().WaitAsync(TimeSpan.FromSeconds(15));

        lock (results)
        {
            Assert.Equal(["lock:error"], results);
        }

        Assert.Contains(logs.Lines, l => l.Contains("|4002|", StringComparison.Ordinal) && l.Contains("orphan", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Dispose_NotOwnedAnyMore_CountedAsNotOwned()
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix(), o => o.AutoExtend = false);
        var results = new List<string>();
        using var listener = ListenToReleases(provider, results);
        var locks = (RedisLockProvider)provider.GetRequiredService<IRedisLockProvider>();
        var database = await provider.GetRequiredService<IRedisConnection>().GetDatabaseAsync();
        var handle = await locks.CreateLock("taken").AcquireAsync();
        await database.KeyDeleteAsync(provider.GetRequiredService<IRedisConnection>().Keys.TaggedKey("lock", "taken", "owner"));

        await handle.DisposeAsync();
        await locks.FlushReleasesAsync();

        lock (results)
        {
            Assert.Equal(["lock:not_owned"], results);
        }
    }

    [Fact]
    public async Task DisposeProvider_ReleasesStillInFlight_WaitsForThem()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var prefix = Servers.NewPrefix();
        var provider = Build(server.ConnectionString, prefix);
        var locks = provider.GetRequiredService<IRedisLockProvider>();
        var handles = new List<IRedisLockHandle>();
        for (var i = 0; i < 10; i++)
        {
            handles.Add(await locks.CreateLock("pending-" + i).AcquireAsync());
        }

        // A hung server: the releases are written but not answered until it resumes.
        server.Pause();
        Task disposal;
        try
        {
            foreach (var handle in handles)
            {
                await handle.DisposeAsync();
            }

            disposal = provider.DisposeAsync().AsTask();
            await Task.Delay(300);
            Assert.False(disposal.IsCompleted, "the provider's disposal did not wait for the pending releases");
        }
        finally
        {
            server.Resume();
        }

        await disposal.WaitAsync(TimeSpan.FromSeconds(10));
        var remaining = await server.CliAsync("--scan", "--pattern", prefix + ":lock:*:owner");

        Assert.Equal("", remaining.Trim());
    }

    [Fact]
    public async Task HostStop_ReleasesStillInFlight_WaitsForThem()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var prefix = Servers.NewPrefix();
        await using var provider = Build(server.ConnectionString, prefix);
        var locks = provider.GetRequiredService<IRedisLockProvider>();
        var flusher = Assert.Single(provider.GetServices<IHostedService>(), s => s.GetType().Name == "LockReleaseFlusher");
        var handle = await locks.CreateLock("shutdown").AcquireAsync();

        server.Pause();
        Task stopping;
        try
        {
            await handle.DisposeAsync();
            stopping = flusher.StopAsync(CancellationToken.None);
            await Task.Delay(300);
            Assert.False(stopping.IsCompleted, "host shutdown did not wait for the pending release");
        }
        finally
        {
            server.Resume();
        }

        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("0", (await server.CliAsync("EXISTS", prefix + ":lock:{shutdown}:owner")).Trim());
    }

    private static MeterListener ListenToReleases(ServiceProvider provider, List<string> results)
    {
        var scope = provider.GetRequiredService<IMeterFactory>();
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == scope && instrument.Name == RedisLockMetrics.Releases)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            string? kind = null, result = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "lock.kind")
                {
                    kind = (string?)tag.Value;
                }
                else if (tag.Key == "result")
                {
                    result = (string?)tag.Value;
                }
            }

            lock (results)
            {
                results.Add($"{kind}:{result}");
            }
        });
        listener.Start();
        return listener;
    }
}

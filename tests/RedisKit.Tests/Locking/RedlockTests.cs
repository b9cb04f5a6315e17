using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Locking;

public sealed class RedlockTests : IAsyncLifetime
{
    private readonly List<RedisServerProcess> _servers = [];

    public async Task InitializeAsync()
    {
        var starts = Enumerable.Range(0, 5).Select(_ => RedisServerProcess.StartAsync()).ToArray();
        _servers.AddRange(await Task.WhenAll(starts));
    }

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    private Task<RedlockProvider> ConnectAsync(string prefix) => RedlockProvider.ConnectAsync(
        _servers.Select(s => s.ConnectionString + ",connectTimeout=1000,syncTimeout=1000,asyncTimeout=1000"),
        new RedlockOptions { KeyPrefix = prefix, Expiry = TimeSpan.FromSeconds(10), MinRetryDelay = TimeSpan.FromMilliseconds(20), MaxRetryDelay = TimeSpan.FromMilliseconds(60) });

    [Fact]
    public async Task Acquire_FiveServers_SetsTheKeyOnAllAndExcludesASecondProvider()
    {
        var prefix = Servers.NewPrefix();
        await using var first = await ConnectAsync(prefix);
        await using var second = await ConnectAsync(prefix);

        var handle = await first.CreateLock("invoice").TryAcquireAsync();
        var other = await second.CreateLock("invoice").TryAcquireAsync(TimeSpan.FromMilliseconds(200));
        var holders = await Task.WhenAll(_servers.Select(s => s.CliAsync("EXISTS", $"{prefix}:redlock:invoice")));
        await handle!.DisposeAsync();

        // The release is written to every server and not awaited (the default): other clients see it shortly after.
        var afterRelease = await TestHost.EventuallyAsync(
            async () =>
            {
                var exists = await Task.WhenAll(_servers.Select(s => s.CliAsync("EXISTS", $"{prefix}:redlock:invoice")));
                return exists.All(e => e.Trim() == "0") ? exists : throw new InvalidOperationException("not released yet");
            },
            TimeSpan.FromSeconds(5));
        await using var next = await second.CreateLock("invoice").TryAcquireAsync();

        Assert.Equal(3, first.Quorum);
        Assert.NotNull(handle);
        Assert.Equal(0, handle.FencingToken);
        Assert.Null(other);
        Assert.All(holders, h => Assert.Equal("1", h.Trim()));
        Assert.All(afterRelease, h => Assert.Equal("0", h.Trim()));
        Assert.NotNull(next);
    }

    [Fact]
    public async Task Acquire_TwoOfFiveServersStopped_StillAcquires()
    {
        await using var redlock = await ConnectAsync(Servers.NewPrefix());
        await _servers[0].StopAsync();
        await _servers[3].StopAsync();

        await using var handle = await redlock.CreateLock("two-down").TryAcquireAsync();

        Assert.NotNull(handle);
        Assert.True(await handle.ExtendAsync());
    }

    [Fact]
    public async Task Acquire_ThreeOfFiveServersStopped_FailsAndLeavesNoKeyOnTheOthers()
    {
        var prefix = Servers.NewPrefix();
        await using var redlock = await ConnectAsync(prefix);
        await _servers[0].StopAsync();
        await _servers[2].StopAsync();
        await _servers[4].StopAsync();

        var handle = await redlock.CreateLock("three-down").TryAcquireAsync(TimeSpan.FromMilliseconds(300));
        var leftovers = await Task.WhenAll(new[] { _servers[1], _servers[3] }.Select(s => s.CliAsync("EXISTS", $"{prefix}:redlock:three-down")));

        Assert.Null(handle);
        Assert.All(leftovers, l => Assert.Equal("0", l.Trim()));
        await Assert.ThrowsAsync<TimeoutException>(async () => await redlock.CreateLock("three-down").AcquireAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Acquire_ElapsedTimeAteTheValidity_FailsAndReleasesEverywhere()
    {
        // A clock on which every reading is 10 s after the previous one: the attempt "took" the whole expiry.
        var prefix = Servers.NewPrefix();
        var multiplexers = await Task.WhenAll(_servers.Select(s => ConnectionMultiplexer.ConnectAsync(s.ConnectionString)));
        try
        {
            await using var redlock = new RedlockProvider(
                multiplexers,
                new RedlockOptions { KeyPrefix = prefix, Expiry = TimeSpan.FromSeconds(10), AutoExtend = false },
                timeProvider: new LeapingClock(TimeSpan.FromSeconds(10)));

            var handle = await redlock.CreateLock("slow").TryAcquireAsync();
            var leftovers = await Task.WhenAll(_servers.Select(s => s.CliAsync("EXISTS", $"{prefix}:redlock:slow")));

            Assert.Null(handle);
            Assert.All(leftovers, l => Assert.Equal("0", l.Trim()));
        }
        finally
        {
            foreach (var multiplexer in multiplexers)
            {
                await multiplexer.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AddRedlock_ResolvedFromDi_LocksOnEveryServerAndReleasesBeforeTheHostExits()
    {
        var prefix = Servers.NewPrefix();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddRedisKit(o =>
        {
            o.ConnectionString = _servers[0].ConnectionString;
            o.KeyPrefix = prefix;
        }).AddRedlock(o =>
        {
            o.Endpoints = [.. _servers.Select(s => s.ConnectionString)];
            o.KeyPrefix = prefix;
            o.Expiry = TimeSpan.FromSeconds(10);
        });
        var host = builder.Build();
        await host.StartAsync();
        var redlock = host.Services.GetRequiredService<RedlockProvider>();

        var handle = await redlock.CreateLock("di").TryAcquireAsync();
        var holders = await Task.WhenAll(_servers.Select(s => s.CliAsync("EXISTS", $"{prefix}:redlock:di")));
        var second = await redlock.CreateLock("di").TryAcquireAsync();
        await handle!.DisposeAsync();
        await host.StopAsync();
        host.Dispose();
        var afterExit = await Task.WhenAll(_servers.Select(s => s.CliAsync("EXISTS", $"{prefix}:redlock:di")));

        Assert.Equal(5, redlock.ServerCount);
        Assert.NotNull(handle);
        Assert.Null(second);
        Assert.All(holders, h => Assert.Equal("1", h.Trim()));
        Assert.All(afterExit, h => Assert.Equal("0", h.Trim()));
    }

    [Theory]
    [InlineData("none", "Endpoints")]
    [InlineData("duplicate", "Endpoints:1")]
    [InlineData("blank", "Endpoints:0")]
    [InlineData("drift", "ClockDriftFactor")]
    [InlineData("delays", "MaxRetryDelay")]
    public async Task AddRedlock_InvalidOption_HostFailsToStartNamingTheOption(string problem, string option)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddRedisKit(o => o.ConnectionString = _servers[0].ConnectionString).AddRedlock(o =>
        {
            o.Endpoints = problem switch
            {
                "none" => [],
                "duplicate" => [_servers[0].ConnectionString, _servers[0].ConnectionString],
                "blank" => [" "],
                _ => [_servers[0].ConnectionString],
            };
            if (problem == "drift")
            {
                o.ClockDriftFactor = 0.7;
            }

            if (problem == "delays")
            {
                o.MinRetryDelay = TimeSpan.FromSeconds(2);
                o.MaxRetryDelay = TimeSpan.FromSeconds(1);
            }
        });
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    private sealed class LeapingClock(TimeSpan leap) : TimeProvider
    {
        private long _now;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Add(ref _now, leap.Ticks);
    }

    [Fact]
    public async Task Acquire_TwoProvidersIncrementingWithoutAtomicOps_FinalCountIsExact()
    {
        var prefix = Servers.NewPrefix();
        await using var a = await ConnectAsync(prefix);
        await using var b = await ConnectAsync(prefix);
        using var client = await ConnectionMultiplexer.ConnectAsync(_servers[0].ConnectionString);
        var database = client.GetDatabase();
        RedisKey counter = prefix + ":counter";

        await Task.WhenAll(new[] { a, b, a, b }.Select(p => Task.Run(async () =>
        {
            var redisLock = p.CreateLock("counter");
            for (var i = 0; i < 10; i++)
            {
                await using var handle = await redisLock.AcquireAsync(TimeSpan.FromSeconds(30));
                var value = (long?)await database.StringGetAsync(counter) ?? 0;
                await Task.Yield();
                await database.StringSetAsync(counter, value + 1);
            }
        })));

        Assert.Equal(40, (long)await database.StringGetAsync(counter));
    }
}

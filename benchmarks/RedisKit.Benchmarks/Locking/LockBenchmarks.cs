using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Medallion.Threading.Redis;
using Microsoft.Extensions.DependencyInjection;
using RedLockNet.SERedis;
using RedLockNet.SERedis.Configuration;
using StackExchange.Redis;

namespace RedisKit.Benchmarks.Locking;

/// <summary>
/// Acquire + release of one lock name, uncontended (one caller, <see cref="UncontendedRounds"/> in a row) and contended (16 concurrent callers on
/// one name, each doing <see cref="RoundsPerCaller"/> acquire+release), for RedisKit, RedLock.net 2.3.2
/// (single server) and DistributedLock.Redis 1.1.1, on one private redis-server and one multiplexer each.
/// All use a 30 s expiry with auto-extension on (each library's default behaviour). RedisKit runs twice: with its
/// default release (written, reply observed in the background) and with <c>AwaitRelease = true</c> (DisposeAsync
/// returns after the server confirmed, like the peers). Waiting: RedisKit
/// jitters 10-250 ms and is woken by the release (in this single process by the release's answer, with no message;
/// see docs/locks.md); RedLock.net retries every 10 ms; DistributedLock busy-waits 10-250 ms (set to RedisKit's bounds).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LockBenchmarks
{
    private const int Callers = 16;
    private const int RoundsPerCaller = 16;
    private const int ContendedOperations = Callers * RoundsPerCaller;
    private const int UncontendedRounds = 32;
    private static readonly TimeSpan Expiry = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private ConnectionMultiplexer _multiplexer = null!;
    private ServiceProvider _services = null!;
    private ServiceProvider _awaitingServices = null!;
    private IRedisLock _redisKitLock = null!;
    private IRedisLock _redisKitAwaitingLock = null!;
    private RedLockFactory _redLockFactory = null!;
    private RedisDistributedLock _medallionLock = null!;

    [GlobalSetup]
    public void Setup()
    {
        _multiplexer = BenchmarkServer.Connect();
        var services = new ServiceCollection();
        services.AddRedisKit(_multiplexer, o => o.KeyPrefix = "bench").AddLocking(o => o.Expiry = Expiry);
        _services = services.BuildServiceProvider();
        _redisKitLock = _services.GetRequiredService<IRedisLockProvider>().CreateLock("bench-lock");
        var awaiting = new ServiceCollection();
        awaiting.AddRedisKit(_multiplexer, o => o.KeyPrefix = "bench-await").AddLocking(o =>
        {
            o.Expiry = Expiry;
            o.AwaitRelease = true;
        });
        _awaitingServices = awaiting.BuildServiceProvider();
        _redisKitAwaitingLock = _awaitingServices.GetRequiredService<IRedisLockProvider>().CreateLock("bench-lock");
        _redLockFactory = RedLockFactory.Create([new RedLockMultiplexer(_multiplexer)]);
        _medallionLock = new RedisDistributedLock("bench-medallion", _multiplexer.GetDatabase(), o => o
            .Expiry(Expiry)
            .BusyWaitSleepTime(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(250)));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _redLockFactory.Dispose();
        _services.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _awaitingServices.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _multiplexer.Dispose();
        BenchmarkServer.Stop();
    }

    // Every row runs one async loop per caller (one caller doing UncontendedRounds in a row, or 16 callers doing
    // RoundsPerCaller each), like a worker loop. The loop's own state machine (allocated when it first awaits) is then
    // shared by its rounds instead of being counted in full against each acquire+release, so the Allocated column
    // shows the libraries' allocations.
    [BenchmarkCategory("Uncontended"), Benchmark(OperationsPerInvoke = UncontendedRounds, Description = "RedisKit uncontended")]
    public Task RedisKitUncontended() => RedisKitRounds(_redisKitLock, UncontendedRounds);

    [BenchmarkCategory("Uncontended"), Benchmark(OperationsPerInvoke = UncontendedRounds, Description = "RedisKit uncontended, AwaitRelease")]
    public Task RedisKitAwaitReleaseUncontended() => RedisKitRounds(_redisKitAwaitingLock, UncontendedRounds);

    [BenchmarkCategory("Uncontended"), Benchmark(Baseline = true, OperationsPerInvoke = UncontendedRounds, Description = "RedLock.net uncontended")]
    public Task RedLockNetUncontended() => RedLockNetRounds("bench-redlock", UncontendedRounds);

    [BenchmarkCategory("Uncontended"), Benchmark(OperationsPerInvoke = UncontendedRounds, Description = "DistributedLock uncontended")]
    public Task DistributedLockUncontended() => DistributedLockRounds(UncontendedRounds);

    [BenchmarkCategory("Contended"), Benchmark(OperationsPerInvoke = ContendedOperations, Description = "RedisKit contended x16")]
    public Task RedisKitContended() => RunCallers(() => RedisKitRounds(_redisKitLock, RoundsPerCaller));

    [BenchmarkCategory("Contended"), Benchmark(OperationsPerInvoke = ContendedOperations, Description = "RedisKit contended x16, AwaitRelease")]
    public Task RedisKitAwaitReleaseContended() => RunCallers(() => RedisKitRounds(_redisKitAwaitingLock, RoundsPerCaller));

    [BenchmarkCategory("Contended"), Benchmark(Baseline = true, OperationsPerInvoke = ContendedOperations, Description = "RedLock.net contended x16")]
    public Task RedLockNetContended() => RunCallers(() => RedLockNetRounds("bench-redlock-contended", RoundsPerCaller));

    [BenchmarkCategory("Contended"), Benchmark(OperationsPerInvoke = ContendedOperations, Description = "DistributedLock contended x16")]
    public Task DistributedLockContended() => RunCallers(() => DistributedLockRounds(RoundsPerCaller));

    private static Task RunCallers(Func<Task> rounds)
    {
        var callers = new Task[Callers];
        for (var i = 0; i < Callers; i++)
        {
            callers[i] = Task.Run(rounds);
        }

        return Task.WhenAll(callers);
    }

    private static async Task RedisKitRounds(IRedisLock redisLock, int rounds)
    {
        for (var i = 0; i < rounds; i++)
        {
            await using var handle = await redisLock.AcquireAsync(Wait);
        }
    }

    private async Task RedLockNetRounds(string resource, int rounds)
    {
        for (var i = 0; i < rounds; i++)
        {
            using var redLock = await _redLockFactory.CreateLockAsync(resource, Expiry, Wait, TimeSpan.FromMilliseconds(10));
            if (!redLock.IsAcquired)
            {
                throw new InvalidOperationException("RedLock.net did not acquire");
            }
        }
    }

    private async Task DistributedLockRounds(int rounds)
    {
        for (var i = 0; i < rounds; i++)
        {
            await using var handle = await _medallionLock.AcquireAsync(Wait);
        }
    }
}

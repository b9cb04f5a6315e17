using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;

namespace RedisKit.Benchmarks.Caching;

/// <summary>An L1 (in-memory) hit: no Redis traffic. Allocations matter here.</summary>
[MemoryDiagnoser]
public class CacheL1HitBenchmarks
{
    private CachePeers _peers = null!;

    [GlobalSetup]
    public void Setup()
    {
        _peers = CachePeers.CreateAsync(BenchmarkServer.ConnectionString()).GetAwaiter().GetResult();
        _peers.RedisKit.GetOrSetAsync("l1", static _ => Task.FromResult(CachePeers.Sample)).AsTask().GetAwaiter().GetResult();
        _peers.Fusion.GetOrSetAsync<Product>("l1", static (_, _) => Task.FromResult(CachePeers.Sample)).AsTask().GetAwaiter().GetResult();
        _peers.Hybrid.GetOrCreateAsync("l1", static _ => ValueTask.FromResult(CachePeers.Sample)).AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _peers.DisposeAsync().AsTask().GetAwaiter().GetResult();
        BenchmarkServer.Stop();
    }

    [Benchmark(Baseline = true)]
    public ValueTask<Product> FusionCache() => _peers.Fusion.GetOrSetAsync<Product>("l1", static (_, _) => Task.FromResult(CachePeers.Sample));

    [Benchmark]
    public ValueTask<Product> HybridCache() => _peers.Hybrid.GetOrCreateAsync("l1", static _ => ValueTask.FromResult(CachePeers.Sample));

    [Benchmark]
    public ValueTask<Product> RedisKit() => _peers.RedisKit.GetOrSetAsync("l1", static _ => Task.FromResult(CachePeers.Sample));
}

/// <summary>
/// An L2 (Redis) hit with L1 reads disabled, with 1 and 64 concurrent callers: each invocation performs
/// 256 reads spread over <see cref="Callers"/> concurrent loops, so the per-operation time is comparable.
/// </summary>
[MemoryDiagnoser]
public class CacheL2HitBenchmarks
{
    private const int Operations = 256;
    private static readonly CacheEntryOptions RedisKitL2 = new() { SkipL1 = true };
    private static readonly FusionCacheEntryOptions FusionL2 = new() { SkipMemoryCacheRead = true };
    private static readonly HybridCacheEntryOptions HybridL2 = new() { Flags = HybridCacheEntryFlags.DisableLocalCacheRead };
    private CachePeers _peers = null!;
    private IDatabase _database = null!;
    private RedisKey _rawKey;

    [Params(1, 64)]
    public int Callers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _peers = CachePeers.CreateAsync(BenchmarkServer.ConnectionString()).GetAwaiter().GetResult();
        _database = _peers.Multiplexer.GetDatabase();
        _rawKey = _peers.Prefix + ":raw:l2";
        _database.StringSet(_rawKey, JsonSerializer.SerializeToUtf8Bytes(CachePeers.Sample));
        _peers.RedisKit.GetOrSetAsync("l2", static _ => Task.FromResult(CachePeers.Sample)).AsTask().GetAwaiter().GetResult();
        _peers.Fusion.GetOrSetAsync<Product>("l2", static (_, _) => Task.FromResult(CachePeers.Sample)).AsTask().GetAwaiter().GetResult();
        _peers.Hybrid.GetOrCreateAsync("l2", static _ => ValueTask.FromResult(CachePeers.Sample)).AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _peers.DisposeAsync().AsTask().GetAwaiter().GetResult();
        BenchmarkServer.Stop();
    }

    private Task Run(Func<Task> read)
    {
        var perCaller = Operations / Callers;
        var loops = new Task[Callers];
        for (var c = 0; c < Callers; c++)
        {
            loops[c] = Task.Run(async () =>
            {
                for (var i = 0; i < perCaller; i++)
                {
                    await read();
                }
            });
        }

        return Task.WhenAll(loops);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations)]
    public Task RawStackExchangeRedis() => Run(async () =>
    {
        var value = await _database.StringGetAsync(_rawKey);
        _ = JsonSerializer.Deserialize<Product>((ReadOnlySpan<byte>)(byte[])value!);
    });

    [Benchmark(OperationsPerInvoke = Operations)]
    public Task RedisKit() => Run(async () => await _peers.RedisKit.GetOrSetAsync("l2", static _ => Task.FromResult(CachePeers.Sample), RedisKitL2));

    [Benchmark(OperationsPerInvoke = Operations)]
    public Task FusionCache() => Run(async () => await _peers.Fusion.GetOrSetAsync<Product>("l2", static (_, _) => Task.FromResult(CachePeers.Sample), FusionL2));

    [Benchmark(OperationsPerInvoke = Operations)]
    public Task HybridCache() => Run(async () => await _peers.Hybrid.GetOrCreateAsync("l2", static _ => ValueTask.FromResult(CachePeers.Sample), HybridL2));
}

/// <summary>A miss: read, run the (instant) factory, write. Every call uses a new key.</summary>
[MemoryDiagnoser]
public class CacheMissBenchmarks
{
    private static readonly CacheEntryOptions RedisKitShort = new() { Duration = TimeSpan.FromSeconds(30), FailSafe = false };
    private static readonly FusionCacheEntryOptions FusionShort = new() { Duration = TimeSpan.FromSeconds(30) };
    private static readonly HybridCacheEntryOptions HybridShort = new() { Expiration = TimeSpan.FromSeconds(30) };
    private CachePeers _peers = null!;
    private IDatabase _database = null!;
    private long _counter;

    [GlobalSetup]
    public void Setup()
    {
        _peers = CachePeers.CreateAsync(BenchmarkServer.ConnectionString()).GetAwaiter().GetResult();
        _database = _peers.Multiplexer.GetDatabase();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _peers.DisposeAsync().AsTask().GetAwaiter().GetResult();
        BenchmarkServer.Stop();
    }

    private string NextKey() => "miss:" + Interlocked.Increment(ref _counter);

    [Benchmark(Baseline = true)]
    public async Task RawStackExchangeRedis()
    {
        var key = _peers.Prefix + ":raw:" + NextKey();
        var value = await _database.StringGetAsync(key);
        if (value.IsNull)
        {
            await _database.StringSetAsync(key, JsonSerializer.SerializeToUtf8Bytes(CachePeers.Sample), TimeSpan.FromSeconds(30));
        }
    }

    [Benchmark]
    public ValueTask<Product> RedisKit() => _peers.RedisKit.GetOrSetAsync(NextKey(), static _ => Task.FromResult(CachePeers.Sample), RedisKitShort);

    [Benchmark]
    public ValueTask<Product> FusionCache() => _peers.Fusion.GetOrSetAsync<Product>(NextKey(), static (_, _) => Task.FromResult(CachePeers.Sample), FusionShort);

    [Benchmark]
    public ValueTask<Product> HybridCache() => _peers.Hybrid.GetOrCreateAsync(NextKey(), static _ => ValueTask.FromResult(CachePeers.Sample), HybridShort);
}

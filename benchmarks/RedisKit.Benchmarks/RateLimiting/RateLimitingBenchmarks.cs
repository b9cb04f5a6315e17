using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.RateLimiting;
using StackExchange.Redis;

namespace RedisKit.Benchmarks.RateLimiting;

/// <summary>
/// One rate-limit check per operation, 64 concurrent callers per invocation, 1024 partitions, limits high enough that
/// every check is allowed (so every variant does its full write path). Peers: the seeds' patterns written plainly with
/// StackExchange.Redis (INCR then EXPIRE; the pipelined ZREMRANGEBYSCORE+ZCARD+ZADD+EXPIRE log) and a hand-written
/// single-EVALSHA fixed window (the baseline). RedisKit runs with its defaults (concurrent checks coalesced into
/// shared script calls) and, for the two headline algorithms, with coalescing off (one script call per check).
/// </summary>
[MemoryDiagnoser]
public class RateLimitingBenchmarks
{
    private const int Callers = 64;
    private const int PerCaller = 200;
    private const int Partitions = 1024;
    internal const int ChecksPerInvocation = Callers * PerCaller;
    private const string FixedWindowLua = """
        local c = redis.call('INCR', KEYS[1])
        if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return c
        """;

    private static readonly RateLimitPolicy[] Fixed = [RateLimitPolicy.FixedWindow("fw", 1_000_000, TimeSpan.FromSeconds(1))];
    private static readonly RateLimitPolicy[] Log = [RateLimitPolicy.SlidingWindowLog("log", 100_000, TimeSpan.FromSeconds(1))];
    private static readonly RateLimitPolicy[] Counter = [RateLimitPolicy.SlidingWindowCounter("swc", 1_000_000, TimeSpan.FromSeconds(1))];
    private static readonly RateLimitPolicy[] Bucket = [RateLimitPolicy.TokenBucket("tb", 1_000_000, 1_000_000, TimeSpan.FromSeconds(1))];
    private static readonly RateLimitPolicy[] Gcra = [RateLimitPolicy.Gcra("gcra", 1_000_000, TimeSpan.FromSeconds(1))];

    private ConnectionMultiplexer _multiplexer = null!;
    private IDatabase _database = null!;
    private ServiceProvider _provider = null!;
    private IRedisRateLimiter _limiter = null!;
    private ServiceProvider _unbatchedProvider = null!;
    private IRedisRateLimiter _unbatched = null!;
    private byte[] _fixedWindowSha = null!;
    private RedisKey[] _keys = null!;
    private string[] _partitions = null!;
    private long _member;

    [GlobalSetup]
    public void Setup()
    {
        _multiplexer = BenchmarkServer.Connect();
        _database = _multiplexer.GetDatabase();
        _fixedWindowSha = _multiplexer.GetServers()[0].ScriptLoad(FixedWindowLua);
        _keys = Enumerable.Range(0, Partitions).Select(i => (RedisKey)("bench:seed:" + i)).ToArray();
        _partitions = Enumerable.Range(0, Partitions).Select(i => "p" + i).ToArray();
        var services = new ServiceCollection();
        services.AddRedisKit(o => o.KeyPrefix = "bench").UseConnection(_multiplexer).AddRateLimiting();
        _provider = services.BuildServiceProvider();
        _limiter = _provider.GetRequiredService<IRedisRateLimiter>();
        _limiter.CheckAsync("warm", Fixed).AsTask().GetAwaiter().GetResult();
        var unbatched = new ServiceCollection();
        unbatched.AddRedisKit(o => o.KeyPrefix = "bench1").UseConnection(_multiplexer).AddRateLimiting(o => o.CoalesceConcurrentChecks = false);
        _unbatchedProvider = unbatched.BuildServiceProvider();
        _unbatched = _unbatchedProvider.GetRequiredService<IRedisRateLimiter>();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _provider.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _unbatchedProvider.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _multiplexer.Dispose();
        BenchmarkServer.Stop();
    }

    private static Task RunAsync(Func<int, Task> check) =>
        Task.WhenAll(Enumerable.Range(0, Callers).Select(caller => Task.Run(async () =>
        {
            for (var i = 0; i < PerCaller; i++)
            {
                await check(((caller * PerCaller) + i) % Partitions).ConfigureAwait(false);
            }
        })));

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers * PerCaller)]
    public Task HandWrittenEvalShaFixedWindow() => RunAsync(async p =>
    {
        var count = (long)await _database.ScriptEvaluateAsync(_fixedWindowSha, [_keys[p]], [1000]).ConfigureAwait(false);
        _ = count <= 1_000_000;
    });

    [Benchmark(OperationsPerInvoke = Callers * PerCaller)]
    public Task SeedIncrThenExpire() => RunAsync(async p =>
    {
        var count = await _database.StringIncrementAsync(_keys[p]).ConfigureAwait(false);
        if (count == 1)
        {
            await _database.KeyExpireAsync(_keys[p], TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        }
    });

    [Benchmark(OperationsPerInvoke = Callers * PerCaller)]
    public Task RedisKitFixedWindow() => RunAsync(async p => _ = (await _limiter.CheckAsync(_partitions[p], Fixed).ConfigureAwait(false)).IsAllowed);

    [Benchmark(OperationsPerInvoke = Callers * PerCaller)]
    public Task RedisKitFixedWindowNoCoalescing() => RunAsync(async p => _ = (await _unbatched.CheckAsync(_partitions[p], Fixed).ConfigureAwait(false)).IsAllowed);

    [Benchmark(OperationsPerInvoke = Callers * PerCaller)]
    public Task SeedPipelinedSlidingLog() => RunAsync(async p =>
    {
        var key = (RedisKey)("bench:seedlog:" + p);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var batch = _database.CreateBatch();
        var trim = batch.SortedSetRemoveRangeByScoreAsync(key, double.NegativeInfinity, now - 1000);
        var count = batch.SortedSetLengthAsync(key);
        var add = batch.SortedSetAddAsync(key, now + ":" + Interlocked.Increment(ref _member), now);
        var expire = batch.KeyExpireAsync(key, TimeSpan.FromSeconds(1));
        batch.Execute();
        await Task.WhenAll(trim, count, add, expire).ConfigureAwait(false);
        _ = count.Result < 100_000;
    });

    [Benchmark(OperationsPerInvoke = Callers * PerCaller)]
    public Task RedisKitSlidingWindowLog() => RunAsync(async p => _ = (await _limiter.CheckAsync(_partitions[p], Log).ConfigureAwait(false)).IsAllowed);

    [Benchmark(OperationsPerInvoke = Callers * PerCaller)]
    public Task RedisKitSlidingWindowLogNoCoalescing() => RunAsync(async p => _ = (await _unbatched.CheckAsync(_partitions[p], Log).ConfigureAwait(false)).IsAllowed);

    [Benchmark(OperationsPerInvoke = Callers * PerCaller)]
    public Task RedisKitSlidingWindowCounter() => RunAsync(async p => _ = (await _limiter.CheckAsync(_partitions[p], Counter).ConfigureAwait(false)).IsAllowed);

    [Benchmark(OperationsPerInvoke = Callers * PerCaller)]
    public Task RedisKitTokenBucket() => RunAsync(async p => _ = (await _limiter.CheckAsync(_partitions[p], Bucket).ConfigureAwait(false)).IsAllowed);

    [Benchmark(OperationsPerInvoke = Callers * PerCaller)]
    public Task RedisKitGcra() => RunAsync(async p => _ = (await _limiter.CheckAsync(_partitions[p], Gcra).ConfigureAwait(false)).IsAllowed);
}

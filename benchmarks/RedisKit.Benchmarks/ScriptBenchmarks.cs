using BenchmarkDotNet.Attributes;
using StackExchange.Redis;

namespace RedisKit.Benchmarks;

/// <summary>
/// RedisKit's EVALSHA runner against StackExchange.Redis's own script paths, on one key: what the
/// shared scripting layer costs on top of the client.
/// </summary>
[MemoryDiagnoser]
public class ScriptBenchmarks
{
    private const string Source = "return redis.call('INCR', KEYS[1])";
    private static readonly RedisScript Script = new("bench-incr", Source);
    private ConnectionMultiplexer _multiplexer = null!;
    private IDatabase _database = null!;
    private LoadedLuaScript _loaded = null!;
    private readonly RedisKey[] _keys = ["bench:script"];

    [GlobalSetup]
    public void Setup()
    {
        _multiplexer = BenchmarkServer.Connect();
        _database = _multiplexer.GetDatabase();
        _loaded = LuaScript.Prepare("return redis.call('INCR', @key)").Load(_multiplexer.GetServers()[0]);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _multiplexer.Dispose();
        BenchmarkServer.Stop();
    }

    [Benchmark(Baseline = true)]
    public Task<RedisResult> StackExchangeScriptEvaluateString() => _database.ScriptEvaluateAsync(Source, _keys);

    [Benchmark]
    public Task<RedisResult> StackExchangeLoadedLuaScript() => _loaded.EvaluateAsync(_database, new { key = _keys[0] });

    [Benchmark]
    public Task<RedisResult> RedisKitEvalSha() => Script.EvaluateAsync(_database, _keys);
}

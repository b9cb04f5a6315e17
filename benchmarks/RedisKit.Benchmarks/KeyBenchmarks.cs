using BenchmarkDotNet.Attributes;
using StackExchange.Redis;

namespace RedisKit.Benchmarks;

/// <summary>KeyBuilder (encoding + length check) against plain string interpolation.</summary>
[MemoryDiagnoser]
public class KeyBenchmarks
{
    private readonly KeyBuilder _keys = new("shop");
    private readonly string _id = "12345";

    [Benchmark(Baseline = true)]
    public RedisKey Interpolation() => $"shop:cache:product:{_id}";

    [Benchmark]
    public RedisKey KeyBuilderKey() => _keys.Key("cache", "product", _id);

    [Benchmark]
    public RedisKey KeyBuilderTagged() => _keys.TaggedKey("rl", _id, "login");
}

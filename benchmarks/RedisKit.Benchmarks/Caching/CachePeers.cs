using System.Text.Json;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Serialization;

namespace RedisKit.Benchmarks.Caching;

public sealed record Product(int Id, string Name, string Category, decimal Price, int Stock, string Description);

/// <summary>The System.Text.Json adapter FusionCache needs (its own add-on package is not on the mirror).</summary>
public sealed class FusionJsonSerializer : IFusionCacheSerializer
{
    public byte[] Serialize<T>(T? obj) => JsonSerializer.SerializeToUtf8Bytes(obj);

    public T? Deserialize<T>(byte[] data) => JsonSerializer.Deserialize<T>(data);

    public ValueTask<byte[]> SerializeAsync<T>(T? obj, CancellationToken token = default) => new(Serialize(obj));

    public ValueTask<T?> DeserializeAsync<T>(byte[] data, CancellationToken token = default) => new(Deserialize<T>(data));
}

/// <summary>One instance of each cache, all on the same redis-server and multiplexer settings.</summary>
public sealed class CachePeers : IAsyncDisposable
{
    public static readonly Product Sample = new(42, "Desk lamp", "lighting", 39.90m, 120, "An adjustable desk lamp with a weighted base and a warm LED.");

    private readonly ServiceProvider _redisKit;
    private readonly ServiceProvider _hybrid;

    private CachePeers(ConnectionMultiplexer multiplexer, ServiceProvider redisKit, ServiceProvider hybrid, FusionCache fusion, string prefix)
    {
        Multiplexer = multiplexer;
        _redisKit = redisKit;
        _hybrid = hybrid;
        Fusion = fusion;
        Prefix = prefix;
        RedisKit = redisKit.GetRequiredService<IRedisCache>();
        Hybrid = hybrid.GetRequiredService<HybridCache>();
    }

    public ConnectionMultiplexer Multiplexer { get; }

    public IRedisCache RedisKit { get; }

    public HybridCache Hybrid { get; }

    public FusionCache Fusion { get; }

    public string Prefix { get; }

    /// <summary>One app instance: its own multiplexer and caches. Instances created with the same <paramref name="prefix"/> share keys.</summary>
    public static async Task<CachePeers> CreateAsync(string connectionString, string? prefix = null)
    {
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(connectionString);
        prefix ??= "b" + Guid.NewGuid().ToString("N")[..8];

        var redisKitServices = new ServiceCollection();
        redisKitServices.AddLogging();
        redisKitServices.AddRedisKit(o => o.KeyPrefix = prefix).UseConnection(multiplexer).AddCaching();
        var redisKit = redisKitServices.BuildServiceProvider();
        await redisKit.GetRequiredService<IRedisConnection>().GetCapabilitiesAsync();

        var hybridServices = new ServiceCollection();
        hybridServices.AddLogging();
        hybridServices.AddStackExchangeRedisCache(o =>
        {
            o.InstanceName = prefix + ":hybrid:";
            o.ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(multiplexer);
        });
        hybridServices.AddHybridCache();
        var hybrid = hybridServices.BuildServiceProvider();

        var fusion = new FusionCache(new FusionCacheOptions { CacheKeyPrefix = prefix + ":fusion:" });
        fusion.SetupDistributedCache(
            new Microsoft.Extensions.Caching.StackExchangeRedis.RedisCache(new RedisCacheOptions { ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(multiplexer) }),
            new FusionJsonSerializer());

        return new CachePeers(multiplexer, redisKit, hybrid, fusion, prefix);
    }

    public async ValueTask DisposeAsync()
    {
        Fusion.Dispose();
        await _hybrid.DisposeAsync();
        await _redisKit.DisposeAsync();
        await Multiplexer.DisposeAsync();
    }
}

using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RedisKit;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the RedisKit cache.</summary>
public static class CachingServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IRedisCache"/> (options from <c>RedisKit:Caching</c>, then
    /// <paramref name="configure"/>, validated at start) and, unless one is already registered,
    /// Microsoft's <see cref="HybridCache"/> backed by it. The backplane subscription is made when the
    /// host starts. Needs Lua (every write is a script).
    /// </summary>
    public static RedisKitBuilder AddCaching(this RedisKitBuilder builder, Action<CacheOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<CacheOptions>()
            .Configure<IServiceProvider>(static (options, provider) => provider.GetService<IConfiguration>()?.GetSection(CacheOptions.SectionName).Bind(options))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CacheOptions>, CacheOptionsValidator>());
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton<CacheMetrics>();
        services.TryAddSingleton<TwoLevelCache>(static sp => new TwoLevelCache(
            sp.GetRequiredService<IRedisConnection>(),
            sp.GetRequiredService<IRedisSerializer>(),
            sp.GetRequiredService<IOptions<CacheOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILogger<TwoLevelCache>>() ?? Logging.Abstractions.NullLogger<TwoLevelCache>.Instance,
            sp.GetRequiredService<CacheMetrics>()));
        services.TryAddSingleton<IRedisCache>(static sp => sp.GetRequiredService<TwoLevelCache>());
        services.TryAddSingleton<HybridCache, RedisKitHybridCache>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CacheStartup>());
        builder.RequireFeatures(RedisFeatures.Lua, "cache");
        return builder;
    }
}

/// <summary>Subscribes the cache to the backplane when the host starts, so invalidations are heard from the first request.</summary>
internal sealed class CacheStartup : IHostedService
{
    private readonly TwoLevelCache _cache;

    public CacheStartup(TwoLevelCache cache) => _cache = cache;

    public Task StartAsync(CancellationToken cancellationToken) => _cache.InitializeAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Registers write-behind queues.</summary>
public static class WriteBehindServiceCollectionExtensions
{
    /// <summary>
    /// Registers a durable write-behind queue named <paramref name="name"/> for <typeparamref name="T"/>
    /// (<see cref="IWriteBehindQueue{T}"/>) and the hosted worker that drains it in batches into
    /// <typeparamref name="TSink"/>: at-least-once, a batch a crashed worker held is put back after
    /// <see cref="WriteBehindOptions.LeaseDuration"/>. One queue per item type.
    /// </summary>
    public static RedisKitBuilder AddWriteBehind<T, TSink>(this RedisKitBuilder builder, string name, Action<WriteBehindOptions>? configure = null)
        where TSink : class, IWriteBehindSink<T>
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var services = builder.Services;
        var optionsBuilder = services.AddOptions<WriteBehindOptions>(name).ValidateDataAnnotations().ValidateOnStart();
        if (configure is not null)
        {
            optionsBuilder.Configure(configure);
        }

        services.TryAddSingleton<IWriteBehindSink<T>, TSink>();
        services.AddSingleton(sp => new WriteBehindQueue<T>(
            name,
            sp.GetRequiredService<IRedisConnection>(),
            sp.GetRequiredService<IRedisSerializer>(),
            sp.GetRequiredService<IWriteBehindSink<T>>(),
            sp.GetRequiredService<IOptionsMonitor<WriteBehindOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILogger<WriteBehindQueue<T>>>() ?? Logging.Abstractions.NullLogger<WriteBehindQueue<T>>.Instance));
        services.AddSingleton<IWriteBehindQueue<T>>(sp => sp.GetRequiredService<WriteBehindQueue<T>>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<WriteBehindQueue<T>>());
        builder.RequireFeatures(RedisFeatures.AtomicLua, "write-behind queue");
        return builder;
    }
}

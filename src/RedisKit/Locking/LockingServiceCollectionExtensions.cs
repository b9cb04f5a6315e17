using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RedisKit;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers RedisKit's distributed locks.</summary>
public static class LockingServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IRedisLockProvider"/> (singleton) on the shared connection. Options come from the
    /// <c>RedisKit:Locking</c> section, then <paramref name="configure"/>, and are validated when the host starts.
    /// The server must run Lua atomically (host start fails otherwise, e.g. on Garnet without Lua transaction mode).
    /// </summary>
    public static RedisKitBuilder AddLocking(this RedisKitBuilder builder, Action<LockingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<LockingOptions>()
            .Configure<IServiceProvider>(static (options, provider) =>
            {
                if (provider.GetService<IConfiguration>() is { } configuration)
                {
                    configuration.GetSection(LockingOptions.SectionName).Bind(options);
                }
            })
            .ValidateOnStart();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LockingOptions>, LockingOptionsValidator>());
        services.TryAddSingleton<LockingMetrics>();
        services.TryAddSingleton(static sp => new RedisLockProvider(
            sp.GetRequiredService<IRedisConnection>(),
            sp.GetRequiredService<IOptions<LockingOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<LockingMetrics>(),
            (sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger<RedisLockProvider>()));
        services.TryAddSingleton<IRedisLockProvider>(static sp => sp.GetRequiredService<RedisLockProvider>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, LockReleaseFlusher>());
        builder.RequireFeatures(RedisFeatures.AtomicLua, "distributed locks");
        return builder;
    }
}

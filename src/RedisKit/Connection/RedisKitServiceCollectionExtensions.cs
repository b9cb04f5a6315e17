using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RedisKit;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers RedisKit.</summary>
public static class RedisKitServiceCollectionExtensions
{
    /// <summary>
    /// Registers the shared connection (<see cref="IRedisConnection"/>), the key convention, the
    /// serializer, stats and health check. Options come from the <c>RedisKit</c> section, the connection
    /// string from <c>RedisKit:ConnectionString</c> or <c>ConnectionStrings:redis</c>, then
    /// <paramref name="configure"/>; they are validated when the host starts. Calling it again returns
    /// a builder over the same registrations.
    /// </summary>
    public static RedisKitBuilder AddRedisKit(this IServiceCollection services, Action<RedisKitOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);

        var existing = services.FirstOrDefault(d => d.ServiceType == typeof(RedisConnectionSource))?.ImplementationInstance as RedisConnectionSource;
        var source = existing ?? new RedisConnectionSource();
        if (existing is null)
        {
            services.AddSingleton(source);
            services.AddOptions<RedisKitOptions>()
                .Configure<IServiceProvider>(static (options, provider) =>
                {
                    if (provider.GetService<IConfiguration>() is { } configuration)
                    {
                        configuration.GetSection(RedisKitOptions.SectionName).Bind(options);
                        options.ConnectionString ??= configuration.GetConnectionString(RedisKitOptions.ConnectionStringName);
                    }
                })
                .ValidateOnStart();
            services.AddSingleton<IValidateOptions<RedisKitOptions>>(static sp => new RedisKitOptionsValidator(sp.GetRequiredService<RedisConnectionSource>().Factory is not null));
            services.AddOptions<RedisHealthCheckOptions>().ValidateDataAnnotations().ValidateOnStart();

            services.AddMetrics();
            services.TryAddSingleton(TimeProvider.System);
            services.TryAddSingleton<IRedisSerializer>(SystemTextJsonRedisSerializer.Default);
            services.TryAddSingleton<RedisKitCoreMetrics>();
            services.TryAddSingleton<RedisConnection>(static sp =>
            {
                var supplied = sp.GetRequiredService<RedisConnectionSource>().Factory;
                _ = sp.GetRequiredService<RedisKitCoreMetrics>();
                return new RedisConnection(
                    sp.GetRequiredService<IOptions<RedisKitOptions>>(),
                    (sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger<RedisConnection>(),
                    supplied is null ? null : ct => supplied(sp, ct));
            });
            services.TryAddSingleton<IRedisConnection>(static sp => sp.GetRequiredService<RedisConnection>());
            services.TryAddSingleton(static sp => sp.GetRequiredService<IRedisConnection>().Keys);
            services.TryAddSingleton<RedisStats>();
            services.TryAddSingleton<RedisHealthCheck>();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RedisKitStartup>());
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return new RedisKitBuilder(services, source);
    }

    /// <summary>Registers RedisKit over a multiplexer the application owns (RedisKit does not close it).</summary>
    public static RedisKitBuilder AddRedisKit(this IServiceCollection services, IConnectionMultiplexer multiplexer, Action<RedisKitOptions>? configure = null) =>
        services.AddRedisKit(configure).UseConnection(multiplexer);
}

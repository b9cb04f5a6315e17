using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RedisKit;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a <see cref="RedlockProvider"/> over several independent Redis servers.</summary>
public static class RedlockServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="RedlockProvider"/> (singleton) over <see cref="RedlockOptions.Endpoints"/>: independent
    /// Redis servers, not the shared connection of <c>AddRedisKit</c> and not replicas of one another. Options come
    /// from the <c>RedisKit:Redlock</c> section, then <paramref name="configure"/>, and are validated when the host
    /// starts (a bad value stops it with the option's name). The provider connects to every endpoint (in parallel)
    /// when it is first resolved; an endpoint that is down then does not fail the resolution (it counts as a refusal
    /// until it comes back). The container's disposal waits for releases in flight, then closes the connections.
    /// </summary>
    public static RedisKitBuilder AddRedlock(this RedisKitBuilder builder, Action<RedlockOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<RedlockOptions>()
            .Configure<IServiceProvider>(static (options, provider) =>
            {
                if (provider.GetService<IConfiguration>() is { } configuration)
                {
                    configuration.GetSection(RedlockOptions.SectionName).Bind(options);
                }
            })
            .ValidateOnStart();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedlockOptions>, RedlockOptionsValidator>());
        services.TryAddSingleton<LockingMetrics>();
        services.TryAddSingleton(static sp =>
        {
            var options = sp.GetRequiredService<IOptions<RedlockOptions>>().Value;
            return RedlockProvider.ConnectCoreAsync(
                options.Endpoints,
                options,
                sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance,
                sp.GetService<TimeProvider>() ?? TimeProvider.System,
                sp.GetRequiredService<LockingMetrics>(),
                CancellationToken.None).GetAwaiter().GetResult();
        });
        return builder;
    }
}

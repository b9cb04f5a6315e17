using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RedisKit;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers RedisKit's server-side session store.</summary>
public static class SessionServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ISessionStore"/> (singleton) with options from <c>RedisKit:Sessions</c> and
    /// <paramref name="configure"/>, validated at start-up. Needs atomic Lua: host start fails on a server
    /// without it.
    /// </summary>
    public static RedisKitBuilder AddSessions(this RedisKitBuilder builder, Action<SessionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (!services.Any(d => d.ServiceType == typeof(ISessionStore)))
        {
            services.AddOptions<SessionOptions>()
                .Configure<IServiceProvider>(static (options, provider) =>
                {
                    if (provider.GetService<IConfiguration>() is { } configuration)
                    {
                        configuration.GetSection(SessionOptions.SectionName).Bind(options);
                    }
                })
                .ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SessionOptions>, SessionOptionsValidator>());
            services.TryAddSingleton<ISessionStore, RedisSessionStore>();
            builder.RequireFeatures(RedisFeatures.AtomicLua, "sessions");
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return builder;
    }
}

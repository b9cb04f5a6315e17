using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RedisKit;
using RedisKit.Leaderboards;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers leaderboards.</summary>
public static class LeaderboardsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ILeaderboards"/>. Options come from <c>RedisKit:Leaderboards</c>, then
    /// <paramref name="configure"/>, and are validated when the host starts. Leaderboards need atomic Lua
    /// (host start fails on a server without it), and log a warning at start on Garnet, where ranks are O(N).
    /// </summary>
    public static RedisKitBuilder AddLeaderboards(this RedisKitBuilder builder, Action<LeaderboardsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (!services.Any(d => d.ServiceType == typeof(ILeaderboards)))
        {
            services.AddOptions<LeaderboardsOptions>()
                .Configure<IServiceProvider>(static (options, provider) =>
                    provider.GetService<IConfiguration>()?.GetSection(LeaderboardsOptions.SectionName).Bind(options))
                .ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LeaderboardsOptions>, LeaderboardsOptionsValidator>());
            services.TryAddSingleton<LeaderboardInstruments>();
            services.TryAddSingleton<ILeaderboards, Leaderboards>();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, LeaderboardsStartup>());
            builder.RequireFeatures(RedisFeatures.AtomicLua, "leaderboards");
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return builder;
    }
}

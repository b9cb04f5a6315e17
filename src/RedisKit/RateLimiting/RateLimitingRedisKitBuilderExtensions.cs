using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RedisKit;
using RedisKit.RateLimiting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers RedisKit rate limiting.</summary>
public static class RateLimitingRedisKitBuilderExtensions
{
    /// <summary>
    /// Registers <see cref="IRedisRateLimiter"/> with the policies from <c>RedisKit:RateLimiting</c> and
    /// <paramref name="configure"/>; every policy is validated when the host starts (failures name the policy and
    /// setting). Needs atomic Lua on the server.
    /// </summary>
    public static RedisKitBuilder AddRateLimiting(this RedisKitBuilder builder, Action<RedisRateLimitingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var optionsBuilder = services.AddOptions<RedisRateLimitingOptions>()
            .Configure<IServiceProvider>(static (options, provider) =>
            {
                if (provider.GetService<IConfiguration>() is { } configuration)
                {
                    configuration.GetSection(RedisRateLimitingOptions.SectionName).Bind(options);
                }
            });
        if (configure is not null)
        {
            optionsBuilder.Configure(configure);
        }

        optionsBuilder.PostConfigure(static options =>
        {
            foreach (var (name, policy) in options.Policies)
            {
                if (policy is not null && string.IsNullOrEmpty(policy.Name))
                {
                    policy.Name = name;
                }
            }
        }).ValidateOnStart();

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisRateLimitingOptions>, RedisRateLimitingOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisRateLimitingOptions>, RedisRateLimitingPoliciesValidator>());
        services.TryAddSingleton<RateLimitingMetrics>();
        services.TryAddSingleton(static sp => new RedisRateLimiter(
            sp.GetRequiredService<IRedisConnection>(),
            sp.GetRequiredService<IOptions<RedisRateLimitingOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<RateLimitingMetrics>(),
            sp.GetService<ILogger<RedisRateLimiter>>() ?? NullLogger<RedisRateLimiter>.Instance));
        services.TryAddSingleton<IRedisRateLimiter>(static sp => sp.GetRequiredService<RedisRateLimiter>());
        builder.RequireFeatures(RedisFeatures.AtomicLua, "rate limiting");
        return builder;
    }
}

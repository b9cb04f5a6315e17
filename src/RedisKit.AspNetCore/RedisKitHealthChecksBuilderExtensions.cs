using Microsoft.Extensions.Diagnostics.HealthChecks;
using RedisKit;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds RedisKit's Redis check to ASP.NET Core health checks.</summary>
public static class RedisKitHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds <see cref="RedisHealthCheck"/> (PING every primary; Degraded above
    /// <see cref="RedisHealthCheckOptions.DegradedThreshold"/>, Unhealthy when down). Requires
    /// <c>services.AddRedisKit()</c> first and throws <see cref="InvalidOperationException"/> otherwise.
    /// </summary>
    public static IHealthChecksBuilder AddRedisKit(
        this IHealthChecksBuilder builder,
        string name = "redis",
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null,
        Action<RedisHealthCheckOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.Services.Any(d => d.ServiceType == typeof(IRedisConnection)))
        {
            throw new InvalidOperationException("AddHealthChecks().AddRedisKit() needs services.AddRedisKit() to be called first.");
        }

        if (configure is not null)
        {
            builder.Services.Configure(configure);
        }

        return builder.Add(new HealthCheckRegistration(
            name,
            static sp => sp.GetRequiredService<RedisHealthCheck>(),
            failureStatus,
            tags));
    }
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RedisKit.Tests;

/// <summary>Builds a service provider with RedisKit on a given server, as an application would.</summary>
public static class TestHost
{
    public static ServiceProvider Build(string connectionString, string? prefix = null, Action<RedisKitBuilder>? configure = null, Action<RedisKitOptions>? options = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        var builder = services.AddRedisKit(o =>
        {
            o.ConnectionString = connectionString;
            o.KeyPrefix = prefix ?? Servers.NewPrefix();
            o.ConnectTimeout = TimeSpan.FromSeconds(2);
            o.CommandTimeout = TimeSpan.FromSeconds(2);
            o.ReconnectBaseDelay = TimeSpan.FromMilliseconds(50);
            o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(500);
            options?.Invoke(o);
        });
        configure?.Invoke(builder);
        return services.BuildServiceProvider();
    }

    /// <summary>Retries <paramref name="action"/> until it succeeds or <paramref name="within"/> passes.</summary>
    public static Task<T> EventuallyAsync<T>(Func<Task<T>> action, TimeSpan within) => RedisKit.Testing.Eventually.SucceedsAsync(action, within);
}

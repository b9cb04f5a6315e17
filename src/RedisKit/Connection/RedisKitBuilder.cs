using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// Returned by <c>services.AddRedisKit()</c>: capabilities hang off it (<c>.AddCaching()</c>,
/// <c>.AddSessions()</c>, …) and so do connection and serializer choices.
/// </summary>
public sealed class RedisKitBuilder
{
    internal RedisKitBuilder(IServiceCollection services, RedisConnectionSource source)
    {
        Services = services;
        Source = source;
    }

    /// <summary>The service collection being configured.</summary>
    public IServiceCollection Services { get; }

    internal RedisConnectionSource Source { get; }

    /// <summary>
    /// Uses a multiplexer the application created and owns: RedisKit does not close it. Connection
    /// settings in <see cref="RedisKitOptions"/> are then ignored.
    /// </summary>
    public RedisKitBuilder UseConnection(IConnectionMultiplexer multiplexer)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        Source.Factory = (_, _) => Task.FromResult(multiplexer);
        return this;
    }

    /// <summary>Creates the multiplexer with <paramref name="factory"/> on first use; the application owns and closes it.</summary>
    public RedisKitBuilder UseConnectionFactory(Func<IServiceProvider, CancellationToken, Task<IConnectionMultiplexer>> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Source.Factory = factory;
        return this;
    }

    /// <summary>Replaces the value serializer used by every capability.</summary>
    public RedisKitBuilder UseSerializer(IRedisSerializer serializer)
    {
        ArgumentNullException.ThrowIfNull(serializer);
        Services.Replace(ServiceDescriptor.Singleton(serializer));
        return this;
    }

    /// <summary>Uses System.Text.Json with <paramref name="options"/> (for example with a source-generated context as resolver).</summary>
    public RedisKitBuilder UseSystemTextJson(JsonSerializerOptions options) => UseSerializer(new SystemTextJsonRedisSerializer(options));
}

/// <summary>Where the multiplexer comes from when the application supplies it.</summary>
internal sealed class RedisConnectionSource
{
    public Func<IServiceProvider, CancellationToken, Task<IConnectionMultiplexer>>? Factory { get; set; }
}

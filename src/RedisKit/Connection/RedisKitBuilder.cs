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

    /// <summary>
    /// Declares that <paramref name="capability"/> needs <paramref name="features"/>: when the host starts
    /// and the probe shows the server lacks one, start-up fails with <see cref="RedisKitCapabilityException"/>
    /// naming the capability and the feature. Capabilities call this from their <c>Add*</c> method.
    /// </summary>
    public RedisKitBuilder RequireFeatures(RedisFeatures features, string capability)
    {
        ArgumentException.ThrowIfNullOrEmpty(capability);
        Services.AddSingleton(new RedisFeatureRequirement(features, capability));
        return this;
    }

    /// <summary>Uses System.Text.Json with <paramref name="options"/> (for example with a source-generated context as resolver).</summary>
    public RedisKitBuilder UseSystemTextJson(JsonSerializerOptions options) => UseSerializer(new SystemTextJsonRedisSerializer(options));
}

/// <summary>A feature a registered capability needs, checked against the probe at start.</summary>
/// <param name="Features">The features needed.</param>
/// <param name="Capability">The capability's name, for the error message.</param>
public sealed record RedisFeatureRequirement(RedisFeatures Features, string Capability);

/// <summary>Where the multiplexer comes from when the application supplies it.</summary>
internal sealed class RedisConnectionSource
{
    public Func<IServiceProvider, CancellationToken, Task<IConnectionMultiplexer>>? Factory { get; set; }
}

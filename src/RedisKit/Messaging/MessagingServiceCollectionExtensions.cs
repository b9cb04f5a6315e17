using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RedisKit;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers RedisKit messaging: typed pub/sub, the stream producer and stream consumers.</summary>
public static class MessagingServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IMessageBus"/> (typed pub/sub) and <see cref="IStreamProducer"/>. Options come from
    /// <c>RedisKit:Messaging</c>, then <paramref name="configure"/>, and are validated when the host starts.
    /// With <see cref="MessagingOptions.Sharded"/> the host refuses to start on a server without sharded pub/sub.
    /// </summary>
    public static RedisKitBuilder AddMessaging(this RedisKitBuilder builder, Action<MessagingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        AddCore(services);
        if (configure is not null)
        {
            services.Configure(configure);

            // Sharded mode is a registration-time choice, so its requirement can be declared here.
            var probe = new MessagingOptions();
            configure(probe);
            if (probe.Sharded)
            {
                builder.RequireFeatures(RedisFeatures.ShardedPubSub, "sharded pub/sub");
            }
        }

        services.TryAddSingleton<IMessageBus>(static sp => new MessageBus(
            sp.GetRequiredService<IRedisConnection>(),
            sp.GetRequiredService<IRedisSerializer>(),
            sp.GetRequiredService<IOptions<MessagingOptions>>(),
            sp.GetRequiredService<MessagingMetrics>(),
            (sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger<MessageBus>()));
        services.TryAddSingleton<IStreamProducer, StreamProducer>();
        return builder;
    }

    /// <summary>
    /// Runs a stream consumer as a hosted service: member <see cref="StreamConsumerOptions.ConsumerName"/> of
    /// consumer group <paramref name="group"/> on stream <paramref name="stream"/>, handing each entry to a
    /// <typeparamref name="THandler"/> resolved from a new scope. Call it once per stream/group pair. Also
    /// registers what <see cref="AddMessaging"/> registers. The host refuses to start on a server without
    /// streams (Garnet 2.x): <see cref="RedisKitCapabilityException"/>.
    /// </summary>
    public static RedisKitBuilder AddStreamConsumer<T, THandler>(this RedisKitBuilder builder, string stream, string group, Action<StreamConsumerOptions>? configure = null)
        where THandler : class, IStreamHandler<T>
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(stream);
        ArgumentException.ThrowIfNullOrEmpty(group);
        builder.AddMessaging();
        builder.RequireFeatures(RedisFeatures.Streams | RedisFeatures.AtomicLua, "stream consumer");
        var services = builder.Services;
        var name = stream + "/" + group;
        var optionsBuilder = services.AddOptions<StreamConsumerOptions>(name);
        if (configure is not null)
        {
            optionsBuilder.Configure(configure);
        }

        optionsBuilder.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StreamConsumerOptions>, StreamConsumerOptionsValidator>());
        services.TryAddScoped<THandler>();
        services.AddSingleton<IHostedService>(sp => new StreamConsumer<T, THandler>(
            stream,
            group,
            sp.GetRequiredService<IOptionsMonitor<StreamConsumerOptions>>().Get(name),
            sp.GetRequiredService<IRedisConnection>(),
            sp.GetRequiredService<IRedisSerializer>(),
            sp.GetRequiredService<IServiceScopeFactory>(),
            sp.GetRequiredService<MessagingMetrics>(),
            sp.GetRequiredService<TimeProvider>(),
            (sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger<StreamConsumer<T, THandler>>()));
        return builder;
    }

    private static void AddCore(IServiceCollection services)
    {
        if (services.Any(static d => d.ServiceType == typeof(MessagingMetrics)))
        {
            return;
        }

        services.AddOptions<MessagingOptions>()
            .Configure<IServiceProvider>(static (options, provider) =>
                provider.GetService<IConfiguration>()?.GetSection(MessagingOptions.SectionName).Bind(options))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MessagingOptions>, MessagingOptionsValidator>());
        services.TryAddSingleton<MessagingMetrics>();
    }
}

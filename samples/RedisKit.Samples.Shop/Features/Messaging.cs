using RedisKit.Samples.Shop.Infrastructure;

namespace RedisKit.Samples.Shop.Features;

/// <summary>How payments are processed on this instance.</summary>
public enum PaymentsMode
{
    /// <summary>Added to the RedisKit stream <c>payments</c> and handled by the consumer group <see cref="ShopMessaging.PaymentsGroup"/>.</summary>
    Stream,

    /// <summary>The server has no streams (embedded Garnet): processed in the request, under the same lock and fenced update.</summary>
    Inline,
}

/// <summary>
/// Registers the sample's use of RedisKit messaging and locking: order events on pub/sub
/// (<see cref="OrderEvents"/>), payments on a stream with a consumer group (<see cref="PaymentHandler"/>),
/// and a distributed lock with a fencing token per payment (<see cref="PaymentProcessor"/>).
/// </summary>
public static class ShopMessaging
{
    /// <summary>The stream payments are added to (<c>{prefix}:stream:{payments}</c>).</summary>
    public const string PaymentsStream = "payments";

    /// <summary>The consumer group that charges payments (one member per instance).</summary>
    public const string PaymentsGroup = "payment-workers";

    /// <summary>
    /// Adds messaging (bounded per-subscription queues), locking and, when the server has streams,
    /// the payments stream consumer. <paramref name="streams"/> is false on embedded Garnet, which has
    /// no streams: payments are then charged inline and the start-up log says so. A configured server
    /// without streams makes the host refuse to start with a message naming "stream consumer".
    /// </summary>
    public static WebApplicationBuilder AddShopMessaging(this WebApplicationBuilder builder, bool streams)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // AddRedisKit() without a callback returns a builder over the registrations ShopApp already made.
        var shop = builder.Configuration.GetSection(ShopOptions.SectionName).Get<ShopOptions>() ?? new ShopOptions();
        var redisKit = builder.Services.AddRedisKit()
            .AddMessaging(o =>
            {
                // Each SSE client is one subscription: at most this many events wait for a slow browser,
                // then the oldest are dropped (fresh events win).
                o.QueueCapacity = Orders.EventQueueCapacity;
                o.OverflowPolicy = PubSubOverflowPolicy.DropOldest;
            })
            .AddLocking(o => o.Expiry = TimeSpan.FromSeconds(shop.PaymentLockExpirySeconds));
        if (streams)
        {
            redisKit.AddStreamConsumer<PaymentRequested, PaymentHandler>(PaymentsStream, PaymentsGroup, o =>
            {
                // Distinct per instance (two instances on one machine share the machine name). A restarted
                // instance gets a new name; its unacknowledged entries are claimed after ClaimIdleTime.
                o.ConsumerName = OrderEvents.Instance;
                o.MaxDeliveries = 4;
                o.Concurrency = shop.PaymentConcurrency;
                o.ClaimIdleTime = TimeSpan.FromSeconds(shop.PaymentClaimIdleSeconds);
                // A retry must come before the entry counts as idle (validated at start).
                o.RetryMaxDelay = TimeSpan.FromSeconds(Math.Min(10, shop.PaymentClaimIdleSeconds / 3.0));
                o.ClaimInterval = TimeSpan.FromSeconds(2); // also refreshes the pending/lag gauges
            });
        }

        builder.Services.AddSingleton(new PaymentsModeHolder(streams ? PaymentsMode.Stream : PaymentsMode.Inline));
        builder.Services.AddSingleton<OrderEvents>();
        builder.Services.AddSingleton<PaymentProcessor>();
        if (streams && shop.PaymentRequeueAfterSeconds > 0)
        {
            builder.Services.AddHostedService<PendingPaymentRequeuer>();
        }

        builder.Services.AddHostedService<PaymentsModeAnnouncer>();
        return builder;
    }
}

/// <summary>The payments mode chosen at start.</summary>
public sealed record PaymentsModeHolder(PaymentsMode Mode);

/// <summary>Says at start how payments are processed.</summary>
internal sealed partial class PaymentsModeAnnouncer(PaymentsModeHolder mode, ILogger<PaymentsModeAnnouncer> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (mode.Mode == PaymentsMode.Stream)
        {
            PaymentsOnStream(logger, ShopMessaging.PaymentsStream, ShopMessaging.PaymentsGroup, OrderEvents.Instance);
        }
        else
        {
            PaymentsInline(logger);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(9080, LogLevel.Information, "Payments: RedisKit stream '{Stream}', consumer group '{Group}', this instance is consumer '{Consumer}'")]
    private static partial void PaymentsOnStream(ILogger logger, string stream, string group, string consumer);

    [LoggerMessage(9081, LogLevel.Warning, "Payments: this Redis server has no streams (embedded Garnet), so the payments stream consumer is disabled and payments are charged inline in POST /payments (same lock and fenced update). Install redis-server or set ConnectionStrings:redis for the stream worker.")]
    private static partial void PaymentsInline(ILogger logger);
}

/// <summary>Log events of the messaging and locking wiring (9080-9089).</summary>
internal static partial class MessagingLog
{
    [LoggerMessage(9082, LogLevel.Information, "Payment {PaymentId} charged with fencing token {FencingToken}")]
    public static partial void PaymentCharged(ILogger logger, long paymentId, long fencingToken);

    [LoggerMessage(9083, LogLevel.Warning, "Payment {PaymentId}: fenced update refused token {FencingToken} (a newer lock holder wrote the row); not charged")]
    public static partial void PaymentStaleToken(ILogger logger, long paymentId, long fencingToken);

    [LoggerMessage(9084, LogLevel.Information, "Payment {PaymentId} is no longer pending; nothing to do (duplicate delivery)")]
    public static partial void PaymentAlreadyProcessed(ILogger logger, long paymentId);

    [LoggerMessage(9085, LogLevel.Warning, "An SSE client fell behind: {Dropped} order events dropped for it")]
    public static partial void EventsDropped(ILogger logger, long dropped);

    [LoggerMessage(9086, LogLevel.Warning, "Reading the payments stream figures failed")]
    public static partial void StreamFiguresFailed(ILogger logger, Exception exception);

    [LoggerMessage(9087, LogLevel.Warning, "Payment {PaymentId} was still pending {Age} after it was created and had no stream entry: added it again")]
    public static partial void PaymentRequeued(ILogger logger, long paymentId, TimeSpan age);

    [LoggerMessage(9088, LogLevel.Warning, "Re-queueing pending payments failed; trying again later")]
    public static partial void PaymentRequeueFailed(ILogger logger, Exception exception);
}

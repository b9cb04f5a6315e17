namespace RedisKit;

/// <summary>
/// Typed pub/sub over Redis channels. A message is the plain JSON of <c>T</c> (or whatever the registered
/// <see cref="IRedisSerializer"/> writes), so other clients (ioredis, redis-cli) can publish and read the
/// same channels. Channel names are prefixed: <c>{prefix}:chan:{name}</c>. Delivery is at most once:
/// a subscriber that is disconnected when a message is published never sees it (use streams for that).
/// </summary>
public interface IMessageBus
{
    /// <summary>
    /// Publishes <paramref name="message"/> on <paramref name="channel"/>: one round trip (<c>PUBLISH</c>, or
    /// <c>SPUBLISH</c> when <see cref="MessagingOptions.Sharded"/>). Returns how many subscribers Redis
    /// delivered it to (on a cluster with classic pub/sub, those connected to the node that received it).
    /// When Redis is down it throws <see cref="StackExchange.Redis.RedisConnectionException"/> (or times out):
    /// nothing is queued for later.
    /// </summary>
    Task<long> PublishAsync<T>(string channel, T message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Subscribes <paramref name="handler"/> to <paramref name="channel"/> (one <c>SUBSCRIBE</c> round trip the
    /// first time a channel is used on this connection). Several subscriptions may share a channel; each gets
    /// every message. Messages wait in a bounded queue (<see cref="SubscriptionOptions.QueueCapacity"/>) and are
    /// handled one at a time in order, or concurrently (<see cref="SubscriptionOptions.MaxConcurrency"/>). A handler
    /// that throws is logged and counted; other messages and subscriptions go on. The subscription is renewed
    /// by the connection after Redis restarts or the link drops (messages published meanwhile are lost).
    /// Dispose the result to unsubscribe: delivery stops and messages still queued are discarded.
    /// </summary>
    Task<IMessageSubscription> SubscribeAsync<T>(string channel, Func<PubSubMessage<T>, CancellationToken, Task> handler, SubscriptionOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Like <see cref="SubscribeAsync{T}"/> for every channel whose name (after the prefix) matches the Redis glob
    /// <paramref name="pattern"/> (<c>*</c>, <c>?</c>, <c>[…]</c>; escape literal text with <see cref="KeyBuilder.EscapeGlob"/>).
    /// The application prefix is escaped and fixed, so a pattern never reaches another application's channels.
    /// Not available with <see cref="MessagingOptions.Sharded"/> (Redis has no sharded pattern subscription).
    /// </summary>
    Task<IMessageSubscription> SubscribePatternAsync<T>(string pattern, Func<PubSubMessage<T>, CancellationToken, Task> handler, SubscriptionOptions? options = null, CancellationToken cancellationToken = default);
}

/// <summary>An active subscription. Dispose it to unsubscribe.</summary>
public interface IMessageSubscription : IAsyncDisposable
{
    /// <summary>The Redis channel or pattern subscribed to (with the prefix).</summary>
    string RedisChannel { get; }

    /// <summary>Messages this subscription dropped because its queue was full.</summary>
    long Dropped { get; }

    /// <summary>Messages queued and not yet handled.</summary>
    int Queued { get; }
}

/// <summary>A received message.</summary>
/// <typeparam name="T">The message type.</typeparam>
/// <param name="Channel">The channel name as the application wrote it (without the prefix; percent-encoding of <c>: { } %</c> undone).</param>
/// <param name="Message">The message, or <see langword="null"/> when the JSON was <c>null</c>.</param>
public readonly record struct PubSubMessage<T>(string Channel, T? Message);

/// <summary>Per-subscription overrides of <see cref="MessagingOptions"/>.</summary>
public sealed class SubscriptionOptions
{
    /// <summary>Queue capacity; <see langword="null"/> uses <see cref="MessagingOptions.QueueCapacity"/>.</summary>
    public int? QueueCapacity { get; set; }

    /// <summary>Overflow policy; <see langword="null"/> uses <see cref="MessagingOptions.OverflowPolicy"/>.</summary>
    public PubSubOverflowPolicy? OverflowPolicy { get; set; }

    /// <summary>Concurrent handler calls (1 = ordered); <see langword="null"/> uses <see cref="MessagingOptions.MaxConcurrency"/>.</summary>
    public int? MaxConcurrency { get; set; }
}

/// <summary>Convenience overloads of <see cref="IMessageBus"/>.</summary>
public static class MessageBusExtensions
{
    /// <summary>Subscribes a handler that needs only the message (see <see cref="IMessageBus.SubscribeAsync{T}"/>).</summary>
    public static Task<IMessageSubscription> SubscribeAsync<T>(this IMessageBus bus, string channel, Func<T?, CancellationToken, Task> handler, SubscriptionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(handler);
        return bus.SubscribeAsync<T>(channel, (message, ct) => handler(message.Message, ct), options, cancellationToken);
    }
}

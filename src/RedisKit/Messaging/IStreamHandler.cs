namespace RedisKit;

/// <summary>
/// Handles entries of a stream for a consumer registered with <c>AddStreamConsumer&lt;T, THandler&gt;</c>.
/// Resolved from a new DI scope per entry. Return normally to acknowledge the entry; throw to have it
/// retried with backoff and, after <see cref="StreamConsumerOptions.MaxDeliveries"/> deliveries, moved to
/// the dead-letter stream. Delivery is at least once: an entry may be handled again after a crash or a
/// lost acknowledgement, so make handling idempotent (the entry id is a natural key).
/// </summary>
/// <typeparam name="T">The message type.</typeparam>
public interface IStreamHandler<T>
{
    /// <summary>
    /// Handles one entry. <paramref name="cancellationToken"/> is cancelled only when the host's shutdown
    /// timeout expires while the entry is still being handled; the entry then stays pending and is replayed.
    /// </summary>
    Task HandleAsync(StreamMessage<T> message, CancellationToken cancellationToken);
}

/// <summary>One stream entry delivered to a handler.</summary>
/// <typeparam name="T">The message type.</typeparam>
/// <param name="Stream">The stream name as the application wrote it.</param>
/// <param name="Id">The entry id.</param>
/// <param name="Message">The message.</param>
/// <param name="Delivery">Which delivery this is, counted by this consumer from 1 (1 = first attempt by this consumer).</param>
public readonly record struct StreamMessage<T>(string Stream, string Id, T Message, int Delivery);

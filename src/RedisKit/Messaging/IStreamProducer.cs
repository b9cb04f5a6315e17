namespace RedisKit;

/// <summary>
/// Appends typed entries to Redis streams. An entry has one field, <c>data</c>, holding the plain JSON of
/// the message, so other clients can read and write the same stream. The stream key is
/// <c>{prefix}:stream:{name}</c> with the name as hash tag, so the stream, its dead-letter stream
/// (<c>…:dead</c>) and its idempotency keys share one cluster slot.
/// </summary>
public interface IStreamProducer
{
    /// <summary>
    /// Adds <paramref name="message"/> to <paramref name="stream"/>: one round trip (<c>XADD</c>, or one script
    /// when <paramref name="idempotencyKey"/> is given). <paramref name="maxLength"/> (or
    /// <see cref="MessagingOptions.DefaultMaxLength"/>) trims the stream approximately (<c>MAXLEN ~</c>): Redis
    /// keeps at least that many entries and trims whole nodes, which is much cheaper than exact trimming.
    /// With an idempotency key, a second add with the same key within <see cref="MessagingOptions.IdempotencyWindow"/>
    /// adds nothing and returns the first entry's id with <see cref="StreamAddResult.Duplicate"/> set; the check
    /// and the add are one script, so concurrent producers cannot both add. When Redis is down it throws
    /// (<see cref="StackExchange.Redis.RedisConnectionException"/> or a timeout): nothing is buffered.
    /// </summary>
    Task<StreamAddResult> AddAsync<T>(string stream, T message, long? maxLength = null, string? idempotencyKey = null, CancellationToken cancellationToken = default);
}

/// <summary>The outcome of <see cref="IStreamProducer.AddAsync{T}"/>.</summary>
/// <param name="Id">The entry id (<c>1700000000000-0</c>), of the first add when <paramref name="Duplicate"/>.</param>
/// <param name="Duplicate">The idempotency key had been used: nothing was added.</param>
public readonly record struct StreamAddResult(string Id, bool Duplicate);

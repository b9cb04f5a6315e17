namespace RedisKit;

/// <summary>
/// A session as loaded (and touched) by <see cref="ISessionStore"/>: metadata plus the application's
/// fields. A snapshot: changes go through <see cref="ISessionStore.SetAsync"/>.
/// </summary>
public sealed class RedisSession
{
    private readonly IRedisSerializer _serializer;

    internal RedisSession(
        string id,
        string userId,
        DateTimeOffset createdAt,
        DateTimeOffset lastSeenAt,
        DateTimeOffset expiresAt,
        DateTimeOffset absoluteExpiresAt,
        string clientDescription,
        IReadOnlyDictionary<string, byte[]> fields,
        IRedisSerializer serializer)
    {
        Id = id;
        UserId = userId;
        CreatedAt = createdAt;
        LastSeenAt = lastSeenAt;
        ExpiresAt = expiresAt;
        AbsoluteExpiresAt = absoluteExpiresAt;
        ClientDescription = clientDescription;
        Fields = fields;
        _serializer = serializer;
    }

    /// <summary>The session id (secret: never log it; use <see cref="SessionId.LogReference"/>).</summary>
    public string Id { get; }

    /// <summary>The user the session belongs to.</summary>
    public string UserId { get; }

    /// <summary>When the session was created (Redis server clock).</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>When the session was last loaded (this load, for a session returned by a get).</summary>
    public DateTimeOffset LastSeenAt { get; }

    /// <summary>When the session expires if not used again (idle deadline, capped by the absolute one).</summary>
    public DateTimeOffset ExpiresAt { get; }

    /// <summary>When the session expires however active it is.</summary>
    public DateTimeOffset AbsoluteExpiresAt { get; }

    /// <summary>The client description given at creation (for example a User-Agent), possibly empty.</summary>
    public string ClientDescription { get; }

    /// <summary>The application's fields as raw bytes.</summary>
    public IReadOnlyDictionary<string, byte[]> Fields { get; }

    /// <summary>Deserializes field <paramref name="field"/> with the configured serializer; default when absent.</summary>
    /// <exception cref="RedisSerializationException">The stored bytes are not a <typeparamref name="T"/>.</exception>
    public T? Get<T>(string field) =>
        Fields.TryGetValue(field, out var bytes) ? _serializer.Deserialize<T>(bytes) : default;
}

/// <summary>One entry of a user's session list (<see cref="ISessionStore.ListAsync"/>).</summary>
/// <param name="Id">The session id (secret: show it only to its owner, never log it).</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="LastSeenAt">When it was last loaded.</param>
/// <param name="ClientDescription">The client description given at creation.</param>
/// <param name="AbsoluteExpiresAt">When it expires however active it is.</param>
public sealed record SessionInfo(string Id, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt, string ClientDescription, DateTimeOffset AbsoluteExpiresAt);

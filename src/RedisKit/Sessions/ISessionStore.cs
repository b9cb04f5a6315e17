namespace RedisKit;

/// <summary>
/// Server-side sessions on Redis, following the OWASP session lifecycle: CSPRNG ids, idle and absolute
/// timeouts on the server clock, rotation, a per-user index with revocation and a per-user cap. One
/// Redis hash per session; every call is one round trip (one script). Ids are checked for shape before
/// any Redis call: a malformed id returns "not found" without touching Redis. When Redis is down or
/// times out, every method throws <see cref="SessionStoreUnavailableException"/>.
/// </summary>
public interface ISessionStore
{
    /// <summary>
    /// Creates a session for <paramref name="userId"/> with optional initial <paramref name="fields"/> and
    /// a client description (for example a User-Agent; truncated). Prunes the user's index and evicts the
    /// user's oldest sessions beyond <see cref="SessionOptions.MaxSessionsPerUser"/> in the same script.
    /// One round trip.
    /// </summary>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    Task<RedisSession> CreateAsync(string userId, IReadOnlyDictionary<string, byte[]>? fields = null, string? clientDescription = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Loads a session and touches it (extends the idle deadline, never beyond the absolute one) in one
    /// round trip. Returns <see langword="null"/> for a malformed id (no Redis call), an unknown id, or an
    /// expired session (which the same script deletes and removes from the index).
    /// </summary>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    Task<RedisSession?> GetAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes (and optionally removes) individual fields of a live session; other fields are untouched,
    /// so concurrent writers of different fields both keep their change. Returns <see langword="false"/>
    /// (and writes nothing) when the id is malformed, unknown or expired. One round trip.
    /// </summary>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    Task<bool> SetAsync(string sessionId, IReadOnlyDictionary<string, byte[]> fields, IEnumerable<string>? removeFields = null, CancellationToken cancellationToken = default);

    /// <summary>Serializes <paramref name="value"/> with the configured serializer and writes it to one field (see <see cref="SetAsync"/>).</summary>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    Task<bool> SetValueAsync<T>(string sessionId, string field, T value, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gives the session a new id (same data, same creation time and absolute deadline); the old id is
    /// invalid at once. Atomic, one round trip. Returns the session under its new id, or
    /// <see langword="null"/> when the old id is malformed, unknown or expired.
    /// </summary>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    Task<RedisSession?> RotateAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>Destroys a session and removes it from its user's index. Returns whether it existed. One round trip.</summary>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    Task<bool> DestroyAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>Lists a user's live sessions, oldest first, pruning dead ids from the index. One round trip.</summary>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    Task<IReadOnlyList<SessionInfo>> ListAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Destroys every session of <paramref name="userId"/> ("sign out everywhere"), except
    /// <paramref name="exceptSessionId"/> when given ("sign out other devices"). Effective for every app
    /// instance on its next request. Returns the number destroyed. One round trip.
    /// </summary>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    Task<int> DestroyAllAsync(string userId, string? exceptSessionId = null, CancellationToken cancellationToken = default);
}

using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace RedisKit.AspNetCore;

/// <summary>
/// <see cref="ITicketStore"/> for cookie authentication on <see cref="ISessionStore"/>: the cookie
/// carries only the (data-protected) session id; the ticket lives in a session field. Every sign-in
/// creates a fresh session id (the cookie handler removes the previous one first: fixation defence);
/// sign-out destroys the session. Retrieval is one round trip (load + touch). When Redis is down the
/// methods throw <see cref="SessionStoreUnavailableException"/>, which
/// <c>app.UseRedisKitSessions()</c> turns into 503 with Retry-After.
/// </summary>
public sealed class RedisTicketStore : ITicketStore
{
    internal const string SigningInItem = "RedisKit.Sessions.SigningIn";
    internal const string NewSessionIdItem = "RedisKit.Sessions.NewSessionId";
    private readonly ISessionStore _store;
    private readonly SessionHttpOptions _options;

    /// <summary>Creates the store.</summary>
    public RedisTicketStore(ISessionStore store, IOptions<SessionHttpOptions> options)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _options = options.Value;
    }

    /// <inheritdoc />
    public Task<string> StoreAsync(AuthenticationTicket ticket) => StoreAsync(ticket, httpContext: null!, CancellationToken.None);

    /// <inheritdoc />
    public Task<string> StoreAsync(AuthenticationTicket ticket, CancellationToken cancellationToken) => StoreAsync(ticket, httpContext: null!, cancellationToken);

    /// <summary>
    /// Creates a new session holding <paramref name="ticket"/>; the User-Agent becomes its client description.
    /// The session this request authenticated with, if any, is destroyed first (fixation defence). One round
    /// trip, two when a previous session is replaced.
    /// </summary>
    public async Task<string> StoreAsync(AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        if (httpContext?.Features.Get<IRedisSessionFeature>() is { } current)
        {
            await _store.DestroyAsync(current.Session.Id, cancellationToken).ConfigureAwait(false);
            httpContext.Features.Set<IRedisSessionFeature>(null);
        }

        return await CreateAsync(ticket, httpContext, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task RenewAsync(string key, AuthenticationTicket ticket) => RenewAsync(key, ticket, CancellationToken.None);

    /// <inheritdoc />
    public Task RenewAsync(string key, AuthenticationTicket ticket, CancellationToken cancellationToken) => RenewAsync(key, ticket, null!, cancellationToken);

    /// <summary>
    /// Sliding refresh: replaces the ticket field of a live session (other fields untouched), one round trip.
    /// Sign-in over an existing session (the cookie handler renews the current key instead of storing a new
    /// one): the old session is destroyed and a new one created (two round trips), and the cookie written
    /// by this response carries the new id (see <see cref="SessionCookieManager"/>): fixation defence.
    /// </summary>
    public async Task RenewAsync(string key, AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        if (httpContext is not null && httpContext.Items.Remove(SigningInItem))
        {
            await _store.DestroyAsync(key, cancellationToken).ConfigureAwait(false);
            httpContext.Features.Set<IRedisSessionFeature>(null);
            httpContext.Items[NewSessionIdItem] = await CreateAsync(ticket, httpContext, cancellationToken).ConfigureAwait(false);
            return;
        }

        var fields = new Dictionary<string, byte[]>(1, StringComparer.Ordinal) { [_options.TicketField] = TicketSerializer.Default.Serialize(ticket) };
        await _store.SetAsync(key, fields, null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<AuthenticationTicket?> RetrieveAsync(string key) => RetrieveAsync(key, CancellationToken.None);

    /// <inheritdoc />
    public Task<AuthenticationTicket?> RetrieveAsync(string key, CancellationToken cancellationToken) => RetrieveAsync(key, null!, cancellationToken);

    /// <summary>
    /// Loads and touches the session in one round trip and returns its ticket; <see langword="null"/> for a
    /// malformed (no Redis call), unknown or expired id.
    /// </summary>
    public async Task<AuthenticationTicket?> RetrieveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var session = await _store.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (session is null || !session.Fields.TryGetValue(_options.TicketField, out var bytes))
        {
            return null;
        }

        var ticket = TicketSerializer.Default.Deserialize(bytes);
        if (ticket is not null && httpContext is not null)
        {
            httpContext.Features.Set<IRedisSessionFeature>(new RedisSessionFeature(session));
        }

        return ticket;
    }

    private async Task<string> CreateAsync(AuthenticationTicket ticket, HttpContext? httpContext, CancellationToken cancellationToken)
    {
        var userId = _options.UserIdSelector(ticket.Principal);
        if (string.IsNullOrEmpty(userId))
        {
            throw new InvalidOperationException("The signed-in principal has no user id (no NameIdentifier claim or name); set SessionHttpOptions.UserIdSelector.");
        }

        var fields = new Dictionary<string, byte[]>(1, StringComparer.Ordinal) { [_options.TicketField] = TicketSerializer.Default.Serialize(ticket) };
        var userAgent = httpContext?.Request.Headers.UserAgent.ToString();
        var session = await _store.CreateAsync(userId, fields, userAgent, cancellationToken).ConfigureAwait(false);
        return session.Id;
    }

    /// <inheritdoc />
    public Task RemoveAsync(string key) => RemoveAsync(key, CancellationToken.None);

    /// <inheritdoc />
    public Task RemoveAsync(string key, CancellationToken cancellationToken) => RemoveAsync(key, null!, cancellationToken);

    /// <summary>Destroys the session. One round trip.</summary>
    public Task RemoveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken) => _store.DestroyAsync(key, cancellationToken);
}

/// <summary>The RedisKit session of the current request (set by <c>RequireSession()</c> or the ticket store).</summary>
public interface IRedisSessionFeature
{
    /// <summary>The loaded session.</summary>
    RedisSession Session { get; }
}

internal sealed class RedisSessionFeature(RedisSession session) : IRedisSessionFeature
{
    public RedisSession Session { get; } = session;
}

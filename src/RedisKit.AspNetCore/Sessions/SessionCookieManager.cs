using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http;

namespace RedisKit.AspNetCore;

/// <summary>
/// Wraps the cookie scheme's <see cref="ICookieManager"/> to finish the fixation defence: when a sign-in
/// replaced the request's session (<see cref="RedisTicketStore.RenewAsync(string, AuthenticationTicket, HttpContext, CancellationToken)"/>),
/// the cookie the handler writes still names the old id; this rewrites its session-id claim to the new id
/// before the cookie is appended. Every other call goes straight to the inner manager.
/// </summary>
internal sealed class SessionCookieManager : ICookieManager
{
    // The claim CookieAuthenticationHandler puts the session key in (a private constant there).
    private const string SessionIdClaim = "Microsoft.AspNetCore.Authentication.Cookies-SessionId";
    private readonly ICookieManager _inner;
    private readonly CookieAuthenticationOptions _options;

    public SessionCookieManager(ICookieManager inner, CookieAuthenticationOptions options)
    {
        _inner = inner;
        _options = options;
    }

    public string? GetRequestCookie(HttpContext context, string key) => _inner.GetRequestCookie(context, key);

    public void AppendResponseCookie(HttpContext context, string key, string? value, CookieOptions options)
    {
        if (value is not null && context.Items.Remove(RedisTicketStore.NewSessionIdItem, out var newId) && newId is string id
            && _options.TicketDataFormat.Unprotect(value) is { } ticket)
        {
            var identity = new ClaimsIdentity(
                ticket.Principal.Claims.Select(c => c.Type == SessionIdClaim ? new Claim(SessionIdClaim, id, c.ValueType, c.Issuer) : c),
                ticket.Principal.Identity?.AuthenticationType);
            value = _options.TicketDataFormat.Protect(new AuthenticationTicket(new ClaimsPrincipal(identity), ticket.Properties, ticket.AuthenticationScheme));
        }

        _inner.AppendResponseCookie(context, key, value, options);
    }

    public void DeleteCookie(HttpContext context, string key, CookieOptions options) => _inner.DeleteCookie(context, key, options);
}

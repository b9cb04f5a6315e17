using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace RedisKit.AspNetCore;

/// <summary>
/// The endpoint filter behind <c>RequireSession()</c>: reads the session id from
/// <c>Authorization: Bearer</c> or the configured header, checks its shape (malformed → 401 with no Redis
/// call), loads and touches it (one round trip; unknown or expired → 401), exposes it through
/// <see cref="IRedisSessionFeature"/> and <c>HttpContext.GetRedisSession()</c>, and answers 503 with
/// Retry-After when Redis is unavailable (before or inside the handler).
/// </summary>
internal sealed class RequireSessionFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var options = http.RequestServices.GetRequiredService<IOptions<SessionHttpOptions>>().Value;
        try
        {
            if (http.Features.Get<IRedisSessionFeature>() is null)
            {
                var id = ReadSessionId(http.Request, options);
                if (id is null || !SessionId.IsValid(id))
                {
                    return Unauthorized(http);
                }

                var session = await http.RequestServices.GetRequiredService<ISessionStore>().GetAsync(id, http.RequestAborted).ConfigureAwait(false);
                if (session is null)
                {
                    return Unauthorized(http);
                }

                http.Features.Set<IRedisSessionFeature>(new RedisSessionFeature(session));
            }

            return await next(context).ConfigureAwait(false);
        }
        catch (SessionStoreUnavailableException) when (!http.Response.HasStarted)
        {
            return Unavailable(http, options);
        }
    }

    internal static string? ReadSessionId(HttpRequest request, SessionHttpOptions options)
    {
        if (options.AcceptBearer)
        {
            var authorization = request.Headers.Authorization.ToString();
            if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return authorization["Bearer ".Length..].Trim();
            }
        }

        if (options.SessionIdHeader.Length > 0 && request.Headers.TryGetValue(options.SessionIdHeader, out var value))
        {
            return value.ToString().Trim();
        }

        return null;
    }

    internal static IResult Unavailable(HttpContext http, SessionHttpOptions options)
    {
        http.Response.Headers[HeaderNames.RetryAfter] = ((int)Math.Ceiling(options.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Session store unavailable", detail: "Sessions cannot be checked right now; retry later.");
    }

    private static IResult Unauthorized(HttpContext http)
    {
        http.Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer";
        return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "No valid session");
    }
}

using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RedisKit;
using RedisKit.AspNetCore;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Endpoint and request helpers for RedisKit sessions.</summary>
public static class SessionEndpointExtensions
{
    /// <summary>
    /// Requires a valid session id (token mode: <c>Authorization: Bearer &lt;id&gt;</c> or <c>X-Session-Id</c>)
    /// on the endpoint(s): malformed ids answer 401 without a Redis call; unknown or expired ids 401;
    /// Redis unavailable 503 with Retry-After. One round trip per request (load + touch). The handler
    /// reads the session with <see cref="GetRedisSession"/>.
    /// </summary>
    public static TBuilder RequireSession<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddEndpointFilter(new RequireSessionFilter());
        return builder;
    }

    /// <summary>The session loaded for this request by <c>RequireSession()</c> or the cookie ticket store; null when none.</summary>
    public static RedisSession? GetRedisSession(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<IRedisSessionFeature>()?.Session;
    }

    /// <summary>
    /// "Sign out everywhere": destroys every session of the current user (all devices, effective on every
    /// app instance at their next request) and signs out of <paramref name="scheme"/> (the cookie scheme;
    /// null for the default). One round trip for the sessions.
    /// </summary>
    /// <returns>The number of sessions destroyed.</returns>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    public static async Task<int> SignOutEverywhereAsync(this HttpContext context, string? scheme = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var userId = ResolveUserId(context);
        var count = 0;
        if (userId is not null)
        {
            count = await context.RequestServices.GetRequiredService<ISessionStore>().DestroyAllAsync(userId, null, context.RequestAborted).ConfigureAwait(false);
        }

        if (context.User.Identity?.IsAuthenticated == true)
        {
            await context.SignOutAsync(scheme).ConfigureAwait(false);
        }

        return count;
    }

    /// <summary>
    /// Destroys every session of the current user except the current one ("sign out other devices").
    /// One round trip.
    /// </summary>
    /// <returns>The number of sessions destroyed.</returns>
    /// <exception cref="SessionStoreUnavailableException">Redis is down or timed out.</exception>
    public static Task<int> SignOutOtherSessionsAsync(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var userId = ResolveUserId(context);
        var current = context.GetRedisSession()?.Id;
        return userId is null
            ? Task.FromResult(0)
            : context.RequestServices.GetRequiredService<ISessionStore>().DestroyAllAsync(userId, current, context.RequestAborted);
    }

    /// <summary>
    /// Answers 503 with Retry-After (instead of 500) when the session store is unavailable anywhere later
    /// in the pipeline, including cookie authentication's ticket lookup. Place it before
    /// <c>UseAuthentication()</c>. Fails fast when <c>AddSessions()</c> was not called.
    /// </summary>
    public static IApplicationBuilder UseRedisKitSessions(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.ApplicationServices.GetService<ISessionStore>() is null)
        {
            throw new InvalidOperationException("UseRedisKitSessions() needs services.AddRedisKit(...).AddSessions() (or AddSessionCookies/AddSessionTokens).");
        }

        var options = app.ApplicationServices.GetRequiredService<IOptions<SessionHttpOptions>>();
        return app.Use(async (context, next) =>
        {
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (SessionStoreUnavailableException) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                await RequireSessionFilter.Unavailable(context, options.Value).ExecuteAsync(context).ConfigureAwait(false);
            }
        });
    }

    private static string? ResolveUserId(HttpContext context)
    {
        if (context.GetRedisSession() is { } session)
        {
            return session.UserId;
        }

        var selector = context.RequestServices.GetRequiredService<IOptions<SessionHttpOptions>>().Value.UserIdSelector;
        return context.User is ClaimsPrincipal user && user.Identity?.IsAuthenticated == true ? selector(user) : null;
    }
}

using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RedisKit.AspNetCore;
using RedisKit.RateLimiting;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Infrastructure;

namespace RedisKit.Samples.Shop.Features;

public sealed record LoginRequest(string? Username, string? Password);

public sealed record LoginResponse(string SessionId, long UserId, string Username, string Role, DateTime ExpiresAt);

public sealed record SessionSummary(string Id, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt, string Client, bool Current);

/// <summary>What a session remembers about its user (the session field <c>user</c>).</summary>
public sealed record SessionUser(string Username, string Role);

/// <summary>
/// Authenticates a request from a RedisKit session (docs/sessions.md): the id comes from
/// <c>Authorization: Bearer &lt;id&gt;</c> or the HttpOnly <c>shop_session</c> cookie, which carries only the id.
/// One round trip per request (load + touch, idle and absolute deadlines on the Redis clock); a malformed id
/// is refused without calling Redis. Sign-in creates a fresh session (destroying one the request presented:
/// no fixation), sign-out clears the cookie.
/// </summary>
public sealed class SessionAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ISessionStore sessions,
    IRedisSerializer serializer,
    IOptions<SessionHttpOptions> httpOptions)
    : SignInAuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ShopSession";
    public const string CookieName = "shop_session";
    public const string UserField = "user";
    private const string UnavailableItem = "Shop.SessionStoreUnavailable";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var id = Request.Cookies[CookieName];
        var authorization = Request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            id = authorization["Bearer ".Length..].Trim();
        }

        if (string.IsNullOrEmpty(id))
        {
            return AuthenticateResult.NoResult();
        }

        if (!SessionId.IsValid(id))
        {
            return AuthenticateResult.Fail("Malformed session id."); // no Redis call
        }

        RedisSession? session;
        try
        {
            session = await sessions.GetAsync(id, Context.RequestAborted);
        }
        catch (SessionStoreUnavailableException ex)
        {
            // Unknown, not invalid: a protected route answers 503 (see HandleChallengeAsync), an anonymous one still works.
            Context.Items[UnavailableItem] = true;
            return AuthenticateResult.Fail(ex);
        }

        SessionUser? user;
        try
        {
            user = session?.Get<SessionUser>(UserField);
        }
        catch (RedisSerializationException ex)
        {
            return AuthenticateResult.Fail(ex);
        }

        if (session is null || user is null)
        {
            return AuthenticateResult.Fail("Unknown or expired session.");
        }

        Context.Features.Set<IRedisSessionFeature>(new SessionFeature(session));
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, session.UserId),
            new Claim(ClaimTypes.Name, user.Username),
            new Claim(ClaimTypes.Role, user.Role),
        ], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Context.Items.ContainsKey(UnavailableItem))
        {
            // The body is written by UseStatusCodePages (problem+json).
            Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            Response.Headers.RetryAfter = ((int)Math.Ceiling(httpOptions.Value.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        }

        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        return Task.CompletedTask;
    }

    /// <summary>Creates the session (rotating away any session the request presented) and sets the cookie.</summary>
    protected override async Task HandleSignInAsync(ClaimsPrincipal user, AuthenticationProperties? properties)
    {
        var userId = user.FindFirstValue(ClaimTypes.NameIdentifier)!;
        if (Context.GetRedisSession() is { } presented)
        {
            await sessions.DestroyAsync(presented.Id, Context.RequestAborted);
        }

        var fields = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [UserField] = serializer.Serialize(new SessionUser(user.Identity!.Name!, user.FindFirstValue(ClaimTypes.Role)!)),
        };
        var session = await sessions.CreateAsync(userId, fields, Request.Headers.UserAgent.ToString(), Context.RequestAborted);
        Context.Features.Set<IRedisSessionFeature>(new SessionFeature(session));
        Response.Cookies.Append(CookieName, session.Id, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = Request.IsHttps,
            Path = "/",
        });
    }

    /// <summary>Clears the cookie; the caller destroys the session(s).</summary>
    protected override Task HandleSignOutAsync(AuthenticationProperties? properties)
    {
        Context.Features.Set<IRedisSessionFeature>(null);
        Response.Cookies.Delete(CookieName, new CookieOptions { Path = "/" });
        return Task.CompletedTask;
    }

    private sealed class SessionFeature(RedisSession session) : IRedisSessionFeature
    {
        public RedisSession Session { get; } = session;
    }
}

public static class Auth
{
    public const string AdminPolicy = "admin";

    public static long UserId(this ClaimsPrincipal user) =>
        long.Parse(user.FindFirstValue(ClaimTypes.NameIdentifier)!, CultureInfo.InvariantCulture);

    /// <summary>
    /// Registers RedisKit sessions (idle timeout <see cref="ShopOptions.SessionIdleMinutes"/>, absolute 8 h), the
    /// session authentication scheme and the rate limits (<see cref="RateLimits"/>).
    /// </summary>
    public static WebApplicationBuilder AddShopAuth(this WebApplicationBuilder builder, ShopOptions shop)
    {
        var idle = TimeSpan.FromMinutes(shop.SessionIdleMinutes);
        builder.Services.AddRedisKit()
            .AddSessionTokens()
            .AddSessions(o =>
            {
                o.IdleTimeout = idle;
                o.AbsoluteTimeout = idle > TimeSpan.FromHours(8) ? idle : TimeSpan.FromHours(8);
            });
        builder.Services.AddAuthentication(SessionAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, SessionAuthenticationHandler>(SessionAuthenticationHandler.SchemeName, null);
        return builder.AddShopRateLimits(shop);
    }

    public static IEndpointRouteBuilder MapAuth(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/auth").WithTags("Auth").RequireApiRateLimit();

        group.MapPost("/login", LoginAsync)
            .WithSummary("Signs in: a session cookie, and the session id for token clients.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        group.MapPost("/logout", async (HttpContext http, ISessionStore sessions) =>
        {
            await sessions.DestroyAsync(http.GetRedisSession()!.Id, http.RequestAborted);
            await http.SignOutAsync();
            return TypedResults.NoContent();
        }).RequireAuthorization().WithSummary("Ends the current session.");

        group.MapPost("/logout-all", async (HttpContext http) =>
        {
            // One script: every session of the user is gone, for every instance, on its next request.
            var ended = await http.SignOutEverywhereAsync();
            return TypedResults.Ok(new { ended });
        }).RequireAuthorization().WithSummary("Ends every session of the signed-in user.");

        group.MapGet("/sessions", async (HttpContext http, ISessionStore sessions) =>
        {
            var current = http.GetRedisSession()!;
            var list = await sessions.ListAsync(current.UserId, http.RequestAborted);
            // Only a short prefix of the ids: a session id is a credential.
            return TypedResults.Ok(list
                .OrderByDescending(s => s.CreatedAt)
                .Select(s => new SessionSummary(s.Id[..8], s.CreatedAt, s.LastSeenAt, s.ClientDescription, s.Id == current.Id))
                .ToList());
        }).RequireAuthorization().WithSummary("Lists the signed-in user's sessions (created, last seen, client).");

        return routes;
    }

    /// <summary>
    /// Failed sign-ins are limited per client and username (policy <c>login</c>, fail-closed): one look at the
    /// budget before the password is checked (cost 0, nothing written), one permit consumed when it is wrong.
    /// A successful sign-in consumes nothing, so a user who knows the password is never locked out by it.
    /// </summary>
    private static async Task<IResult> LoginAsync(
        LoginRequest request,
        HttpContext http,
        ShopDb db,
        IRedisRateLimiter limiter,
        ClientPartition client)
    {
        var errors = new Problems.Errors()
            .Require(!string.IsNullOrWhiteSpace(request.Username) && request.Username.Length <= 64, "username", "'username' is required (at most 64 characters).")
            .Require(!string.IsNullOrEmpty(request.Password) && request.Password.Length <= 256, "password", "'password' is required (at most 256 characters).");
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var username = request.Username!.Trim().ToLowerInvariant();
        var partition = client.Of(http) + "|" + username;
        var budget = await limiter.CheckAsync(partition, RateLimits.LoginPolicy, cost: 0, http.RequestAborted);
        if (!budget.IsAllowed || budget.Remaining <= 0)
        {
            RateLimits.Record(http, budget);
            return RateLimits.TooManyRequests(http, budget);
        }

        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Username == username, http.RequestAborted);
        var hasher = new PasswordHasher<User>();
        if (user is null || hasher.VerifyHashedPassword(user, user.PasswordHash, request.Password!) == PasswordVerificationResult.Failed)
        {
            var spent = await limiter.CheckAsync(partition, RateLimits.LoginPolicy, cost: 1, http.RequestAborted);
            RateLimits.Record(http, spent);
            return TypedResults.Problem(title: "Invalid credentials", detail: "Unknown username or wrong password.", statusCode: StatusCodes.Status401Unauthorized);
        }

        RateLimits.Record(http, budget);
        var principal = new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, user.Id.ToString(CultureInfo.InvariantCulture)),
            new Claim(ClaimTypes.Name, user.Username),
            new Claim(ClaimTypes.Role, user.Role),
        ], SessionAuthenticationHandler.SchemeName));
        await http.SignInAsync(SessionAuthenticationHandler.SchemeName, principal);
        var session = http.GetRedisSession()!;
        return TypedResults.Ok(new LoginResponse(session.Id, user.Id, user.Username, user.Role, session.ExpiresAt.UtcDateTime));
    }
}

using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Infrastructure;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Features;

public sealed record LoginRequest(string? Username, string? Password);

public sealed record LoginResponse(string SessionId, long UserId, string Username, string Role, DateTime ExpiresAt);

public sealed record SessionSummary(string Id, DateTime CreatedAt, bool Current);

public sealed record SessionInfo(string Id, long UserId, string Username, string Role, DateTime CreatedAt);

/// <summary>
/// Server-side sessions: an opaque random id (256 bits, base64url) in a cookie or a bearer header;
/// the session is a Redis hash with an idle TTL, and a set per user lists its sessions.
/// </summary>
// Capability seam: replaced by RedisKit sessions when merged
public sealed class SessionStore(IRedisConnection redis, IOptions<ShopOptions> options, TimeProvider time)
{
    public const string CookieName = "shop_session";

    private TimeSpan IdleTimeout => TimeSpan.FromMinutes(options.Value.SessionIdleMinutes);

    public async Task<(string Id, DateTime ExpiresAt)> CreateAsync(User user, CancellationToken cancellationToken)
    {
        var id = Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = time.GetUtcNow().UtcDateTime;
        var db = await redis.GetDatabaseAsync(cancellationToken);
        var key = SessionKey(id);
        var tx = db.CreateTransaction();
        _ = tx.HashSetAsync(key,
        [
            new("uid", user.Id),
            new("username", user.Username),
            new("role", user.Role),
            new("created", now.Ticks),
        ]);
        _ = tx.KeyExpireAsync(key, IdleTimeout);
        _ = tx.SetAddAsync(UserSessionsKey(user.Id), id);
        await tx.ExecuteAsync();
        return (id, now + IdleTimeout);
    }

    /// <summary>The session, sliding its expiry; null when unknown or expired.</summary>
    public async Task<SessionInfo?> GetAsync(string id, CancellationToken cancellationToken)
    {
        if (!IsWellFormed(id))
        {
            return null;
        }

        var db = await redis.GetDatabaseAsync(cancellationToken);
        var key = SessionKey(id);
        var fields = await db.HashGetAllAsync(key);
        if (fields.Length == 0)
        {
            return null;
        }

        _ = db.KeyExpireAsync(key, IdleTimeout, flags: CommandFlags.FireAndForget);
        var map = fields.ToDictionary(f => f.Name.ToString(), f => f.Value);
        return new SessionInfo(
            id,
            (long)map["uid"],
            map["username"].ToString(),
            map["role"].ToString(),
            new DateTime((long)map["created"], DateTimeKind.Utc));
    }

    public async Task DeleteAsync(SessionInfo session, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        var tx = db.CreateTransaction();
        _ = tx.KeyDeleteAsync(SessionKey(session.Id));
        _ = tx.SetRemoveAsync(UserSessionsKey(session.UserId), session.Id);
        await tx.ExecuteAsync();
    }

    public async Task<int> DeleteAllAsync(long userId, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        var ids = await db.SetMembersAsync(UserSessionsKey(userId));
        var keys = ids.Select(i => SessionKey(i.ToString())).Append(UserSessionsKey(userId)).ToArray();
        await db.KeyDeleteAsync(keys);
        return ids.Length;
    }

    public async Task<IReadOnlyList<SessionInfo>> ListAsync(long userId, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        var ids = await db.SetMembersAsync(UserSessionsKey(userId));
        var sessions = new List<SessionInfo>(ids.Length);
        foreach (var id in ids)
        {
            var session = await GetAsync(id.ToString(), cancellationToken);
            if (session is null)
            {
                // Expired: drop it from the index.
                await db.SetRemoveAsync(UserSessionsKey(userId), id);
            }
            else
            {
                sessions.Add(session);
            }
        }

        return sessions;
    }

    private RedisKey SessionKey(string id) => redis.Keys.Key("sample", "session", id);

    private RedisKey UserSessionsKey(long userId) => redis.Keys.Key("sample", "user-sessions", userId.ToString(CultureInfo.InvariantCulture));

    private static bool IsWellFormed(string id) =>
        id.Length == 43 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>Authenticates a request from the session cookie or an <c>Authorization: Bearer</c> session id.</summary>
// Capability seam: replaced by RedisKit sessions when merged
public sealed class SessionAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    SessionStore sessions)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ShopSession";
    public const string SessionIdClaim = "sid";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var id = Request.Cookies[SessionStore.CookieName];
        var authorization = Request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            id = authorization["Bearer ".Length..].Trim();
        }

        if (string.IsNullOrEmpty(id))
        {
            return AuthenticateResult.NoResult();
        }

        SessionInfo? session;
        try
        {
            session = await sessions.GetAsync(id, Context.RequestAborted);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return AuthenticateResult.Fail(ex);
        }

        if (session is null)
        {
            return AuthenticateResult.NoResult();
        }

        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, session.UserId.ToString(CultureInfo.InvariantCulture)),
            new Claim(ClaimTypes.Name, session.Username),
            new Claim(ClaimTypes.Role, session.Role),
            new Claim(SessionIdClaim, session.Id),
        ], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }
}

public static class Auth
{
    public const string AdminPolicy = "admin";

    public static long UserId(this ClaimsPrincipal user) =>
        long.Parse(user.FindFirstValue(ClaimTypes.NameIdentifier)!, CultureInfo.InvariantCulture);

    public static SessionInfo Session(this ClaimsPrincipal user) => new(
        user.FindFirstValue(SessionAuthenticationHandler.SessionIdClaim)!,
        user.UserId(),
        user.Identity!.Name!,
        user.FindFirstValue(ClaimTypes.Role)!,
        default);

    public static IEndpointRouteBuilder MapAuth(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/auth").WithTags("Auth").RequireApiRateLimit();

        group.MapPost("/login", LoginAsync)
            .WithSummary("Signs in: a session cookie, and the session id for token clients.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        group.MapPost("/logout", async (HttpContext http, SessionStore sessions) =>
        {
            await sessions.DeleteAsync(http.User.Session(), http.RequestAborted);
            http.Response.Cookies.Delete(SessionStore.CookieName);
            return TypedResults.NoContent();
        }).RequireAuthorization().WithSummary("Ends the current session.");

        group.MapPost("/logout-all", async (HttpContext http, SessionStore sessions) =>
        {
            var ended = await sessions.DeleteAllAsync(http.User.UserId(), http.RequestAborted);
            http.Response.Cookies.Delete(SessionStore.CookieName);
            return TypedResults.Ok(new { ended });
        }).RequireAuthorization().WithSummary("Ends every session of the signed-in user.");

        group.MapGet("/sessions", async (HttpContext http, SessionStore sessions) =>
        {
            var current = http.User.Session().Id;
            var list = await sessions.ListAsync(http.User.UserId(), http.RequestAborted);
            // Only a short prefix of the other ids: a session id is a credential.
            return TypedResults.Ok(list
                .OrderByDescending(s => s.CreatedAt)
                .Select(s => new SessionSummary(s.Id[..8], s.CreatedAt, s.Id == current))
                .ToList());
        }).RequireAuthorization().WithSummary("Lists the signed-in user's sessions.");

        return routes;
    }

    private static async Task<IResult> LoginAsync(
        LoginRequest request,
        HttpContext http,
        ShopDb db,
        SessionStore sessions,
        ShopRateLimiter limiter,
        IOptions<ShopOptions> options)
    {
        var errors = new Problems.Errors()
            .Require(!string.IsNullOrWhiteSpace(request.Username) && request.Username.Length <= 64, "username", "'username' is required (at most 64 characters).")
            .Require(!string.IsNullOrEmpty(request.Password) && request.Password.Length <= 256, "password", "'password' is required (at most 256 characters).");
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var username = request.Username!.Trim().ToLowerInvariant();
        var client = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        var shop = options.Value;
        // Capability seam: replaced by RedisKit rate limiting when merged
        var decision = await limiter.HitAsync("login", client + "|" + username, shop.LoginAttempts, TimeSpan.FromMinutes(shop.LoginWindowMinutes), http.RequestAborted);
        ShopRateLimiter.WriteHeaders(http.Response, decision);
        if (!decision.Allowed)
        {
            return ShopRateLimiter.TooManyRequests(decision);
        }

        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Username == username, http.RequestAborted);
        var hasher = new PasswordHasher<User>();
        if (user is null || hasher.VerifyHashedPassword(user, user.PasswordHash, request.Password!) == PasswordVerificationResult.Failed)
        {
            return TypedResults.Problem(title: "Invalid credentials", detail: "Unknown username or wrong password.", statusCode: StatusCodes.Status401Unauthorized);
        }

        // A successful sign-in clears the attempts of this client and username.
        await limiter.ResetAsync("login", client + "|" + username, http.RequestAborted);
        var (id, expiresAt) = await sessions.CreateAsync(user, http.RequestAborted);
        http.Response.Cookies.Append(SessionStore.CookieName, id, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = http.Request.IsHttps,
            Path = "/",
        });
        return TypedResults.Ok(new LoginResponse(id, user.Id, user.Username, user.Role, expiresAt));
    }
}

using System.Globalization;
using System.Security.Claims;
using Microsoft.Extensions.Options;
using RedisKit.Samples.Shop.Infrastructure;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Features;

/// <summary>The outcome of one limiter call.</summary>
public readonly record struct RateDecision(bool Allowed, int Limit, long Remaining, long ResetSeconds);

/// <summary>
/// Fixed-window counters in Redis: one MULTI/EXEC (INCR, EXPIRE NX, TTL) per request, so every
/// instance shares the same budget. Fails open when Redis is unreachable.
/// </summary>
// Capability seam: replaced by RedisKit rate limiting when merged
public sealed class ShopRateLimiter(IRedisConnection redis, ShopMetrics metrics, ILogger<ShopRateLimiter> logger)
{
    public async Task<RateDecision> HitAsync(string policy, string partition, int limit, TimeSpan window, CancellationToken cancellationToken)
    {
        try
        {
            var db = await redis.GetDatabaseAsync(cancellationToken);
            var key = redis.Keys.Key("sample", "ratelimit", policy, partition);
            var tx = db.CreateTransaction();
            var count = tx.StringIncrementAsync(key);
            _ = tx.KeyExpireAsync(key, window, ExpireWhen.HasNoExpiry);
            var ttl = tx.KeyTimeToLiveAsync(key);
            await tx.ExecuteAsync();
            var used = await count;
            var reset = (long)Math.Ceiling((await ttl ?? window).TotalSeconds);
            var decision = new RateDecision(used <= limit, limit, Math.Max(0, limit - used), Math.Max(1, reset));
            if (!decision.Allowed)
            {
                metrics.Rejection(policy);
                ShopLog.RateLimited(logger, policy, decision.ResetSeconds);
            }

            return decision;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            ShopLog.RateLimiterFailedOpen(logger, ex);
            return new RateDecision(true, limit, limit, (long)window.TotalSeconds);
        }
    }

    /// <summary>Clears a partition (a successful login clears its failed attempts).</summary>
    public async Task ResetAsync(string policy, string partition, CancellationToken cancellationToken)
    {
        try
        {
            var db = await redis.GetDatabaseAsync(cancellationToken);
            await db.KeyDeleteAsync(redis.Keys.Key("sample", "ratelimit", policy, partition));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            ShopLog.RateLimiterFailedOpen(logger, ex);
        }
    }

    /// <summary>Writes the RateLimit-* headers (and Retry-After on rejection).</summary>
    public static void WriteHeaders(HttpResponse response, RateDecision decision)
    {
        response.Headers["RateLimit-Limit"] = decision.Limit.ToString(CultureInfo.InvariantCulture);
        response.Headers["RateLimit-Remaining"] = decision.Remaining.ToString(CultureInfo.InvariantCulture);
        response.Headers["RateLimit-Reset"] = decision.ResetSeconds.ToString(CultureInfo.InvariantCulture);
        if (!decision.Allowed)
        {
            response.Headers.RetryAfter = decision.ResetSeconds.ToString(CultureInfo.InvariantCulture);
        }
    }

    public static IResult TooManyRequests(RateDecision decision) => TypedResults.Problem(
        title: "Too many requests",
        detail: $"Rate limit of {decision.Limit} reached; retry after {decision.ResetSeconds} s.",
        statusCode: StatusCodes.Status429TooManyRequests);
}

/// <summary>The API limit (100/min per client by default) for every API route group.</summary>
// Capability seam: replaced by RedisKit rate limiting when merged
public sealed class ApiRateLimitFilter(ShopRateLimiter limiter, IOptions<ShopOptions> options) : IEndpointFilter
{
    public const string Policy = "api";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var partition = http.User.FindFirstValue(ClaimTypes.NameIdentifier) is { } userId
            ? "u" + userId
            : "a" + (http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        var decision = await limiter.HitAsync(Policy, partition, options.Value.ApiRequestsPerMinute, TimeSpan.FromMinutes(1), http.RequestAborted);
        ShopRateLimiter.WriteHeaders(http.Response, decision);
        return decision.Allowed ? await next(context) : ShopRateLimiter.TooManyRequests(decision);
    }
}

public static class RateLimitExtensions
{
    /// <summary>Applies the API limit to a route group.</summary>
    public static TBuilder RequireApiRateLimit<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter<TBuilder, ApiRateLimitFilter>();
}

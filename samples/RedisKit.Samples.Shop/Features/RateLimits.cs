using System.Globalization;
using Microsoft.AspNetCore.RateLimiting;
using RedisKit.AspNetCore.RateLimiting;
using RedisKit.RateLimiting;
using RedisKit.Samples.Shop.Infrastructure;

namespace RedisKit.Samples.Shop.Features;

/// <summary>
/// Rate limiting on RedisKit (docs/rate-limiting.md). Two policies, both shared by every instance through Redis:
/// <list type="bullet">
/// <item><c>api</c>: <see cref="ShopOptions.ApiRequestsPerMinute"/> per client per minute (fixed window), through
/// ASP.NET Core's rate limiter middleware (<c>RequireRateLimiting("api")</c>). The client is the signed-in user,
/// else the address; <c>X-Forwarded-For</c> is read only from <see cref="ShopOptions.TrustedProxies"/>.
/// Redis down: <b>fail open</b> (the API keeps serving; a lost minute of budget is cheaper than an outage).</item>
/// <item><c>login</c>: <see cref="ShopOptions.LoginAttempts"/> failed sign-ins per client and username per
/// <see cref="ShopOptions.LoginWindowMinutes"/>, checked by <see cref="Auth"/>'s login handler (the username is in
/// the body, which the middleware cannot see). Redis down: <b>fail closed</b> (429, <c>Retry-After: 1</c>): password
/// guessing is never unlimited, and no session could be created anyway.</item>
/// </list>
/// </summary>
public static class RateLimits
{
    public const string ApiPolicy = "api";
    public const string LoginPolicy = "login";

    /// <summary>Registers the RedisKit limiter, the <c>login</c> policy and the framework's <c>api</c> policy.</summary>
    public static WebApplicationBuilder AddShopRateLimits(this WebApplicationBuilder builder, ShopOptions shop)
    {
        builder.Services.AddRedisKit().AddRateLimiting(o => o.AddPolicy(
            RateLimitPolicy.FixedWindow(LoginPolicy, shop.LoginAttempts, TimeSpan.FromMinutes(shop.LoginWindowMinutes))
                .WithFailureMode(RateLimitFailureMode.FailClosed)));

        var client = RedisRateLimitPartitions.ClientIp(shop.TrustedProxies);
        builder.Services.AddSingleton(new ClientPartition(client));
        builder.Services.AddRateLimiter(o =>
        {
            o.AddRedisFixedWindowLimiter(ApiPolicy, x =>
            {
                x.PermitLimit = shop.ApiRequestsPerMinute;
                x.Window = TimeSpan.FromMinutes(1);
                x.PartitionBy = RedisRateLimitPartitions.User(client);
                x.FailureMode = RateLimitFailureMode.FailOpen;
            });
            o.OnRejected = (context, cancellationToken) =>
            {
                context.HttpContext.RequestServices.GetRequiredService<ShopMetrics>().Rejection(ApiPolicy);
                return RedisRateLimiterOptionsExtensions.WriteRedisRejectionAsync(context, cancellationToken);
            };
        });
        return builder;
    }

    /// <summary>
    /// The rate limiter middleware, then the older draft's <c>RateLimit-Limit</c>/<c>-Remaining</c>/<c>-Reset</c>
    /// headers (RedisKit writes <c>RateLimit</c>, <c>RateLimit-Policy</c> and <c>X-RateLimit-*</c>). After
    /// UseAuthentication, so signed-in clients are limited by user id.
    /// </summary>
    public static WebApplication UseShopRateLimits(this WebApplication app)
    {
        app.UseRateLimiter();
        app.Use((context, next) =>
        {
            context.Response.OnStarting(static state =>
            {
                var http = (HttpContext)state;
                if (http.Features.Get<RedisRateLimitHttpFeature>() is { Decisions: [_, ..] decisions })
                {
                    // The deciding decision: the first denial, else the one with the least left.
                    var deciding = decisions.FirstOrDefault(d => !d.IsAllowed) ?? decisions.MinBy(d => d.Remaining)!;
                    WriteLegacyHeaders(http.Response.Headers, deciding.Limit, deciding.Remaining, deciding.Reset);
                }

                return Task.CompletedTask;
            }, context);
            return next(context);
        });
        return app;
    }

    /// <summary>Applies the API limit (<c>api</c> policy) to an endpoint or a route group.</summary>
    public static TBuilder RequireApiRateLimit<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.RequireRateLimiting(ApiPolicy);

    /// <summary>
    /// Writes every rate-limit header for a decision made outside the middleware (the login check):
    /// <c>RateLimit-Policy</c>, <c>RateLimit</c>, <c>X-RateLimit-*</c>, <c>RateLimit-*</c>, and <c>Retry-After</c> when denied.
    /// </summary>
    public static void WriteHeaders(HttpResponse response, RateLimitDecision decision, bool denied)
    {
        var headers = response.Headers;
        var policy = decision.Deciding.Policy;
        var reset = Seconds(decision.Reset);
        var remaining = Math.Max(0, decision.Remaining);
        headers["RateLimit-Policy"] = string.Create(CultureInfo.InvariantCulture, $"\"{policy.Name}\";q={policy.PermitLimit};w={Seconds(policy.Window)}");
        headers["RateLimit"] = string.Create(CultureInfo.InvariantCulture, $"\"{policy.Name}\";r={remaining};t={reset}");
        headers["X-RateLimit-Limit"] = decision.Limit.ToString(CultureInfo.InvariantCulture);
        headers["X-RateLimit-Remaining"] = remaining.ToString(CultureInfo.InvariantCulture);
        headers["X-RateLimit-Reset"] = reset.ToString(CultureInfo.InvariantCulture);
        WriteLegacyHeaders(headers, decision.Limit, remaining, decision.Reset);
        if (denied)
        {
            headers.RetryAfter = RetryAfterSeconds(decision).ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Seconds until a denied request may succeed (at least 1).</summary>
    public static long RetryAfterSeconds(RateLimitDecision decision) =>
        Math.Max(1, Seconds(decision.RetryAfter is { } retry && retry > TimeSpan.Zero ? retry : decision.Reset));

    /// <summary>429 problem+json in the same shape as RedisKit's middleware rejection.</summary>
    public static IResult TooManyRequests(RateLimitDecision decision) => TypedResults.Problem(
        type: "https://www.rfc-editor.org/rfc/rfc6585#section-4",
        title: "Too Many Requests",
        detail: $"Rate limit of policy '{decision.Deciding.Policy.Name}' exceeded.",
        statusCode: StatusCodes.Status429TooManyRequests,
        extensions: new Dictionary<string, object?>
        {
            ["policy"] = decision.Deciding.Policy.Name,
            ["limit"] = decision.Limit,
            ["retryAfterSeconds"] = RetryAfterSeconds(decision),
        });

    private static void WriteLegacyHeaders(IHeaderDictionary headers, long limit, long remaining, TimeSpan reset)
    {
        headers["RateLimit-Limit"] = limit.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Remaining"] = Math.Max(0, remaining).ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Reset"] = Seconds(reset).ToString(CultureInfo.InvariantCulture);
    }

    private static long Seconds(TimeSpan value) => (long)Math.Ceiling(Math.Max(0, value.TotalSeconds));
}

/// <summary>The client partition (<c>ip:{address}</c>, honouring only trusted proxies), shared by both policies.</summary>
public sealed record ClientPartition(Func<HttpContext, string> Of);

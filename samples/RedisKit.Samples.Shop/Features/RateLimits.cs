using System.Globalization;
using System.Text;
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
    private const string DecisionItem = "Shop.RateLimitDecision";

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
    /// The rate limiter middleware, preceded by the header writer: its <c>OnStarting</c> callback is registered
    /// first, so it runs last and writes the final <c>RateLimit-Policy</c>, <c>RateLimit</c>, <c>X-RateLimit-*</c>
    /// and the older draft's <c>RateLimit-Limit</c>/<c>-Remaining</c>/<c>-Reset</c> from every decision of the
    /// request: the middleware's (<see cref="RedisRateLimitHttpFeature"/>) and the login check's
    /// (<see cref="Record"/>). Call after UseAuthentication, so signed-in clients are limited by user id.
    /// </summary>
    public static WebApplication UseShopRateLimits(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            context.Response.OnStarting(static state =>
            {
                var http = (HttpContext)state;
                List<RateLimitDecision> decisions = [.. http.Features.Get<RedisRateLimitHttpFeature>()?.Decisions ?? []];
                if (http.Items[DecisionItem] is RateLimitDecision extra)
                {
                    decisions.Add(extra);
                }

                WriteHeaders(http.Response.Headers, decisions);
                return Task.CompletedTask;
            }, context);
            return next(context);
        });
        app.UseRateLimiter();
        return app;
    }

    /// <summary>Applies the API limit (<c>api</c> policy) to an endpoint or a route group.</summary>
    public static TBuilder RequireApiRateLimit<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.RequireRateLimiting(ApiPolicy);

    /// <summary>Adds a decision made outside the middleware (the login check) to the request's rate-limit headers.</summary>
    public static void Record(HttpContext http, RateLimitDecision decision) => http.Items[DecisionItem] = decision;

    /// <summary>Seconds until a denied request may succeed (at least 1).</summary>
    public static long RetryAfterSeconds(RateLimitDecision decision) =>
        Math.Max(1, Seconds(decision.RetryAfter is { } retry && retry > TimeSpan.Zero ? retry : decision.Reset));

    /// <summary>429 problem+json with <c>Retry-After</c>, in the same shape as RedisKit's middleware rejection.</summary>
    public static IResult TooManyRequests(HttpContext http, RateLimitDecision decision)
    {
        var retryAfter = RetryAfterSeconds(decision);
        http.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        http.RequestServices.GetRequiredService<ShopMetrics>().Rejection(decision.Deciding.Policy.Name);
        return TypedResults.Problem(
            type: "https://www.rfc-editor.org/rfc/rfc6585#section-4",
            title: "Too Many Requests",
            detail: $"Rate limit of policy '{decision.Deciding.Policy.Name}' exceeded.",
            statusCode: StatusCodes.Status429TooManyRequests,
            extensions: new Dictionary<string, object?>
            {
                ["policy"] = decision.Deciding.Policy.Name,
                ["limit"] = decision.Limit,
                ["retryAfterSeconds"] = retryAfter,
            });
    }

    // Same format as RedisKit's RedisRateLimitHttpFeature: one list item per policy; the X- and older-draft
    // headers carry the deciding policy (the first denial, else the smallest share left).
    private static void WriteHeaders(IHeaderDictionary headers, List<RateLimitDecision> decisions)
    {
        if (decisions.Count == 0)
        {
            return;
        }

        var policy = new StringBuilder();
        var state = new StringBuilder();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        RateLimitPolicyResult? deciding = null;
        foreach (var decision in decisions)
        {
            foreach (var result in decision.Policies)
            {
                if (!seen.Add(result.Policy.Name))
                {
                    continue;
                }

                var separator = policy.Length > 0 ? ", " : "";
                var remaining = Math.Max(0, result.Remaining);
                policy.Append(CultureInfo.InvariantCulture, $"{separator}\"{result.Policy.Name}\";q={result.Policy.PermitLimit}");
                if (result.Policy.Algorithm != RateLimitAlgorithm.Concurrency)
                {
                    policy.Append(CultureInfo.InvariantCulture, $";w={Math.Max(1, Seconds(result.Policy.Window))}");
                }

                state.Append(CultureInfo.InvariantCulture, $"{separator}\"{result.Policy.Name}\";r={remaining};t={Seconds(result.Reset)}");
            }

            var candidate = decision.Deciding;
            if (deciding is not { } current
                || (!candidate.IsAllowed && current.IsAllowed)
                || (candidate.IsAllowed == current.IsAllowed && candidate.Remaining * current.Policy.PermitLimit < current.Remaining * candidate.Policy.PermitLimit))
            {
                deciding = candidate;
            }
        }

        var d = deciding!.Value;
        var limit = d.Policy.PermitLimit.ToString(CultureInfo.InvariantCulture);
        var left = Math.Max(0, d.Remaining).ToString(CultureInfo.InvariantCulture);
        var reset = Seconds(d.Reset).ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Policy"] = policy.ToString();
        headers["RateLimit"] = state.ToString();
        headers["X-RateLimit-Limit"] = headers["RateLimit-Limit"] = limit;
        headers["X-RateLimit-Remaining"] = headers["RateLimit-Remaining"] = left;
        headers["X-RateLimit-Reset"] = headers["RateLimit-Reset"] = reset;
    }

    private static long Seconds(TimeSpan value) => (long)Math.Ceiling(Math.Max(0, value.TotalSeconds));
}

/// <summary>The client partition (<c>ip:{address}</c>, honouring only trusted proxies), shared by both policies.</summary>
public sealed record ClientPartition(Func<HttpContext, string> Of);

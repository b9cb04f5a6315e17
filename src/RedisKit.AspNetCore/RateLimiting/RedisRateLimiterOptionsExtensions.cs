using System.Globalization;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.AspNetCore.RateLimiting;
using RedisKit.RateLimiting;

namespace Microsoft.AspNetCore.RateLimiting;

/// <summary>
/// Adds Redis-backed policies to ASP.NET Core's <see cref="RateLimiterOptions"/>, used with
/// <c>app.UseRateLimiter()</c> and <c>RequireRateLimiting(name)</c> / <c>[EnableRateLimiting(name)]</c>. Each request
/// costs one round trip (one Lua script); the limits hold across every app instance sharing the Redis server. Needs
/// <c>services.AddRedisKit(...).AddRateLimiting()</c>. Each call also sets <see cref="RateLimiterOptions.RejectionStatusCode"/>
/// to 429 and, when none is set, <see cref="RateLimiterOptions.OnRejected"/> to <see cref="WriteRedisRejectionAsync"/>
/// (<c>Retry-After</c> plus a problem+json body). Every response of a limited endpoint carries <c>RateLimit</c>,
/// <c>RateLimit-Policy</c> and <c>X-RateLimit-*</c> headers.
/// </summary>
public static class RedisRateLimiterOptionsExtensions
{
    /// <summary>Registers <paramref name="policyName"/> as a Redis fixed window limiter.</summary>
    public static RateLimiterOptions AddRedisFixedWindowLimiter(this RateLimiterOptions options, string policyName, Action<RedisFixedWindowLimiterOptions> configure) =>
        Add(options, policyName, configure);

    /// <summary>Registers <paramref name="policyName"/> as a Redis sliding window limiter (exact log by default).</summary>
    public static RateLimiterOptions AddRedisSlidingWindowLimiter(this RateLimiterOptions options, string policyName, Action<RedisSlidingWindowLimiterOptions> configure) =>
        Add(options, policyName, configure);

    /// <summary>Registers <paramref name="policyName"/> as a Redis token bucket limiter.</summary>
    public static RateLimiterOptions AddRedisTokenBucketLimiter(this RateLimiterOptions options, string policyName, Action<RedisTokenBucketLimiterOptions> configure) =>
        Add(options, policyName, configure);

    /// <summary>Registers <paramref name="policyName"/> as a Redis GCRA limiter.</summary>
    public static RateLimiterOptions AddRedisGcraLimiter(this RateLimiterOptions options, string policyName, Action<RedisGcraLimiterOptions> configure) =>
        Add(options, policyName, configure);

    /// <summary>Registers <paramref name="policyName"/> as a Redis concurrency limiter (leases held for the request, renewed by heartbeat).</summary>
    public static RateLimiterOptions AddRedisConcurrencyLimiter(this RateLimiterOptions options, string policyName, Action<RedisConcurrencyLimiterOptions> configure) =>
        Add(options, policyName, configure);

    /// <summary>
    /// Registers <paramref name="policyName"/> as several Redis policies checked atomically on one partition (a request
    /// is admitted only if all allow, and then consumes from all). <paramref name="policies"/> are validated now.
    /// </summary>
    public static RateLimiterOptions AddRedisLimiter(this RateLimiterOptions options, string policyName, Func<HttpContext, string> partitionBy, params RateLimitPolicy[] policies)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(policyName);
        ArgumentNullException.ThrowIfNull(partitionBy);
        ArgumentNullException.ThrowIfNull(policies);
        if (policies.Length == 0)
        {
            throw new ArgumentException("At least one policy is needed.", nameof(policies));
        }

        foreach (var policy in policies)
        {
            policy.Validate();
        }

        RateLimitPolicy[] frozen = [.. policies];
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.OnRejected ??= static (context, cancellationToken) => WriteRedisRejectionAsync(context, cancellationToken);
        options.AddPolicy(policyName, context =>
        {
            var limiter = context.RequestServices.GetService<IRedisRateLimiter>()
                ?? throw new InvalidOperationException($"Rate limiting policy '{policyName}' is Redis-backed: call services.AddRedisKit(...).AddRateLimiting() first.");
            var partition = partitionBy(context);
            RedisRateLimitHttpFeature.Attach(context);
            return RateLimitPartition.Get(partition, key => new RedisBackedRateLimiter(limiter, key, frozen));
        });
        return options;
    }

    /// <summary>
    /// The default rejection: 429, <c>Retry-After</c> (whole seconds, rounded up) when known, and an RFC 9457
    /// problem+json body with <c>policy</c> and <c>retryAfterSeconds</c>. Call it from your own <c>OnRejected</c> to keep it.
    /// </summary>
    public static async ValueTask WriteRedisRejectionAsync(OnRejectedContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = context.HttpContext.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = StatusCodes.Status429TooManyRequests;
        long? retrySeconds = null;
        if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
        {
            retrySeconds = Math.Max(1, RedisRateLimitHttpFeature.Seconds(retryAfter));
            response.Headers.RetryAfter = retrySeconds.Value.ToString(CultureInfo.InvariantCulture);
        }

        context.Lease.TryGetMetadata(RedisRateLimitMetadata.Decision, out var decision);
        response.ContentType = "application/problem+json";
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", "https://www.rfc-editor.org/rfc/rfc6585#section-4");
            writer.WriteString("title", "Too Many Requests");
            writer.WriteNumber("status", StatusCodes.Status429TooManyRequests);
            writer.WriteString("detail", decision?.DeniedBy is { } denied
                ? $"Rate limit of policy '{denied}' exceeded."
                : "Rate limit exceeded.");
            if (decision?.DeniedBy is { } policy)
            {
                writer.WriteString("policy", policy);
                writer.WriteNumber("limit", decision.Limit);
            }

            if (retrySeconds is { } seconds)
            {
                writer.WriteNumber("retryAfterSeconds", seconds);
            }

            writer.WriteEndObject();
        }

        await response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
    }

    private static RateLimiterOptions Add<T>(RateLimiterOptions options, string policyName, Action<T> configure)
        where T : RedisHttpRateLimiterOptions, new()
    {
        ArgumentNullException.ThrowIfNull(configure);
        var settings = new T();
        configure(settings);
        return options.AddRedisLimiter(policyName, settings.PartitionBy, settings.CreatePolicy(policyName));
    }
}

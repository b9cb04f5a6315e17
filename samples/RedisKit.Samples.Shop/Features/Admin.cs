using System.Reflection;
using Microsoft.Extensions.Options;
using RedisKit.Samples.Shop.Infrastructure;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Features;

public sealed record RedisFigures(string Server, bool Connected, double? HitRate, long UsedMemoryBytes, long ConnectedClients, long OpsPerSecond, long Keys, long EvictedKeys, int Nodes);

public sealed record AppFigures(
    string Instance,
    long Requests,
    long RateLimitRejections,
    long ProductCacheHits,
    long ProductCacheMisses,
    double? ProductCacheHitRate,
    long EventStreamClients,
    long OrderEventsPublished,
    long PaymentQueueLength);

/// <summary>Figures that exist once RedisKit messaging is wired; 0 until then.</summary>
public sealed record MessagingPlaceholders(long PaymentsStreamLagPlaceholder, long PendingMessagesPlaceholder, string Note);

public sealed record AdminStats(DateTime At, RedisFigures Redis, AppFigures App, MessagingPlaceholders Messaging);

public static class Admin
{
    public const string AdminOrOpenStatsPolicy = "admin-stats";

    public static IEndpointRouteBuilder MapAdmin(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin").WithTags("Admin").RequireAuthorization(AdminOrOpenStatsPolicy);

        group.MapGet("/stats", StatsAsync)
            .WithSummary("Redis figures (hit rate, memory, clients, ops/s) and the app's counters.");
        group.MapGet("/dashboard", Dashboard)
            .WithSummary("A self-contained HTML page charting /admin/stats every second.")
            .Produces(StatusCodes.Status200OK, contentType: "text/html");
        return routes;
    }

    /// <summary>Lets /admin/stats and /admin/dashboard through without the admin role when configured.</summary>
    public static bool AnonymousStats(IOptions<ShopOptions> options, IHostEnvironment environment) =>
        options.Value.AnonymousAdminStats ?? environment.IsDevelopment();

    private static async Task<IResult> StatsAsync(HttpContext http, RedisStats stats, IRedisConnection redis, ShopMetrics metrics, PaymentQueue payments, TimeProvider time)
    {
        RedisFigures figures;
        long queueLength = 0;
        try
        {
            var snapshot = await stats.GetAsync(http.RequestAborted);
            var server = redis.Capabilities?.ToString() ?? "unknown";
            figures = new RedisFigures(server, snapshot.Nodes.Count > 0, snapshot.HitRate, snapshot.UsedMemoryBytes, snapshot.ConnectedClients, snapshot.OpsPerSecond, snapshot.Keys, snapshot.EvictedKeys, snapshot.Nodes.Count);
            queueLength = await payments.LengthAsync(http.RequestAborted);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            figures = new RedisFigures("unreachable", false, null, 0, 0, 0, 0, 0, 0);
        }

        var lookups = metrics.CacheHits + metrics.CacheMisses;
        var app = new AppFigures(
            OrderEvents.Instance,
            metrics.Requests,
            metrics.Rejections,
            metrics.CacheHits,
            metrics.CacheMisses,
            lookups == 0 ? null : (double)metrics.CacheHits / lookups,
            metrics.EventStreamClients,
            metrics.OrdersPublished,
            queueLength);
        // Capability seam: replaced by RedisKit messaging when merged (stream lag from XINFO GROUPS)
        var messaging = new MessagingPlaceholders(0, 0, "placeholders: 0 until RedisKit messaging is wired");
        return TypedResults.Ok(new AdminStats(time.GetUtcNow().UtcDateTime, figures, app, messaging));
    }

    private static IResult Dashboard()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("RedisKit.Samples.Shop.Assets.dashboard.html")
            ?? throw new InvalidOperationException("dashboard.html is not embedded");
        using var reader = new StreamReader(stream);
        return TypedResults.Content(reader.ReadToEnd(), "text/html; charset=utf-8");
    }
}

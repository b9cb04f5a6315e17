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

/// <summary>
/// The payments stream, from <c>XLEN</c> and <c>XINFO GROUPS</c>: entries in the stream, the group's lag
/// (entries not yet delivered to any consumer), pending entries (delivered, not acknowledged),
/// consumers in the group, and entries in the dead-letter stream. All 0 in inline mode.
/// </summary>
public sealed record MessagingFigures(string PaymentsMode, long PaymentsStreamLength, long PaymentsStreamLag, long PendingMessages, int Consumers, long DeadLettered, string Note);

public sealed record AdminStats(DateTime At, RedisFigures Redis, AppFigures App, MessagingFigures Messaging);

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

    private static async Task<IResult> StatsAsync(HttpContext http, RedisStats stats, IRedisConnection redis, ShopMetrics metrics, PaymentsModeHolder mode, TimeProvider time, ILogger<PaymentsModeHolder> logger)
    {
        RedisFigures figures;
        var messaging = new MessagingFigures(mode.Mode.ToString().ToLowerInvariant(), 0, 0, 0, 0, 0,
            mode.Mode == PaymentsMode.Stream ? "payments stream unreadable" : "no streams on this server: payments are charged inline");
        try
        {
            var snapshot = await stats.GetAsync(http.RequestAborted);
            var server = redis.Capabilities?.ToString() ?? "unknown";
            figures = new RedisFigures(server, snapshot.Nodes.Count > 0, snapshot.HitRate, snapshot.UsedMemoryBytes, snapshot.ConnectedClients, snapshot.OpsPerSecond, snapshot.Keys, snapshot.EvictedKeys, snapshot.Nodes.Count);
            if (mode.Mode == PaymentsMode.Stream)
            {
                messaging = await PaymentsStreamAsync(redis, logger, http.RequestAborted) ?? messaging;
            }
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
            messaging.PaymentsStreamLag + messaging.PendingMessages);
        return TypedResults.Ok(new AdminStats(time.GetUtcNow().UtcDateTime, figures, app, messaging));
    }

    /// <summary>XLEN of the stream and of its dead-letter stream, and XINFO GROUPS (3 round trips, pipelined).</summary>
    private static async Task<MessagingFigures?> PaymentsStreamAsync(IRedisConnection redis, ILogger logger, CancellationToken cancellationToken)
    {
        // The keys RedisKit's stream producer uses: {prefix}:stream:{payments} and …:dead (docs/messaging.md).
        var key = redis.Keys.TaggedKey("stream", ShopMessaging.PaymentsStream);
        var deadKey = redis.Keys.TaggedKey("stream", ShopMessaging.PaymentsStream, "dead");
        var db = await redis.GetDatabaseAsync(cancellationToken);
        var length = db.StreamLengthAsync(key);
        var dead = db.StreamLengthAsync(deadKey);
        var groups = db.StreamGroupInfoAsync(key);
        try
        {
            await Task.WhenAll(length, dead, groups);
        }
        catch (RedisServerException) when (!length.IsFaulted && !dead.IsFaulted)
        {
            // XINFO GROUPS on a stream that does not exist yet (no payment since the last restart).
            return new MessagingFigures("stream", 0, 0, 0, 0, await dead, "no payments yet");
        }
        catch (RedisServerException ex)
        {
            MessagingLog.StreamFiguresFailed(logger, ex);
            return null;
        }

        var group = (await groups).FirstOrDefault(g => g.Name == ShopMessaging.PaymentsGroup);
        return new MessagingFigures(
            "stream",
            await length,
            group.Lag ?? 0,
            group.PendingMessageCount,
            group.ConsumerCount,
            await dead,
            $"stream '{ShopMessaging.PaymentsStream}', group '{ShopMessaging.PaymentsGroup}' (XINFO GROUPS)");
    }

    private static IResult Dashboard()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("RedisKit.Samples.Shop.Assets.dashboard.html")
            ?? throw new InvalidOperationException("dashboard.html is not embedded");
        using var reader = new StreamReader(stream);
        return TypedResults.Content(reader.ReadToEnd(), "text/html; charset=utf-8");
    }
}

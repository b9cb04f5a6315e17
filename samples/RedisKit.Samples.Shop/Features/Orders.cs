using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Infrastructure;
using StackExchange.Redis;
using Order = RedisKit.Samples.Shop.Data.Order;

namespace RedisKit.Samples.Shop.Features;

public sealed record OrderLine(long? ProductId, int? Quantity);

public sealed record CreateOrder(IReadOnlyList<OrderLine>? Items);

public sealed record UpdateOrderStatus(string? Status);

public sealed record OrderItemDto(long ProductId, int Quantity, decimal UnitPrice);

public sealed record OrderDto(long Id, long UserId, string Status, decimal Total, DateTime CreatedAt, DateTime UpdatedAt, IReadOnlyList<OrderItemDto> Items)
{
    public static OrderDto From(Order o) => new(o.Id, o.UserId, o.Status, o.TotalCents / 100m, o.CreatedAt, o.UpdatedAt,
        o.Items.Select(i => new OrderItemDto(i.ProductId, i.Quantity, i.UnitPriceCents / 100m)).ToList());
}

/// <summary>An event on the order channel (order.created, order.status, product.low-stock).</summary>
public sealed record ShopEvent(string Type, long? OrderId, long? ProductId, string? Status, object? Data, DateTime At, string Instance);

/// <summary>
/// Publishes order events on one Redis pub/sub channel; every instance's <c>/orders/events</c>
/// subscribers receive them, whichever instance published.
/// </summary>
// Capability seam: replaced by RedisKit messaging when merged
public sealed class OrderEvents(IRedisConnection redis, IOptions<JsonOptions> json, ShopMetrics metrics, ILogger<OrderEvents> logger)
{
    /// <summary>Identifies this process in events.</summary>
    public static readonly string Instance = $"{Environment.MachineName}:{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}:{Guid.NewGuid().ToString("N")[..6]}";

    public RedisChannel Channel => RedisChannel.Literal(redis.Keys.Key("sample", "events", "orders").ToString());

    public JsonSerializerOptions JsonOptions => json.Value.SerializerOptions;

    /// <summary>Publishes; a publish failure is logged, not thrown: the order is already stored.</summary>
    public async Task PublishAsync(ShopEvent shopEvent, CancellationToken cancellationToken)
    {
        try
        {
            var multiplexer = await redis.GetMultiplexerAsync(cancellationToken);
            await multiplexer.GetSubscriber().PublishAsync(Channel, JsonSerializer.Serialize(shopEvent, JsonOptions));
            metrics.OrderEventPublished();
            ShopLog.OrderEventPublished(logger, shopEvent.OrderId ?? 0, shopEvent.Type);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            ShopLog.OrderEventPublishFailed(logger, shopEvent.Type, ex);
        }
    }
}

public static class Orders
{
    public const int MaxLines = 50;
    public const int MaxQuantity = 1000;

    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);

    public static IEndpointRouteBuilder MapOrders(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/orders").WithTags("Orders");

        group.MapPost("", CreateAsync)
            .RequireAuthorization()
            .RequireApiRateLimit()
            .WithSummary("Places an order for the signed-in user: stored, stock taken, order.created published.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("/{id:long}", GetAsync)
            .RequireAuthorization()
            .RequireApiRateLimit()
            .WithSummary("One order (its owner or an admin).")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPatch("/{id:long}/status", UpdateStatusAsync)
            .RequireAuthorization(Auth.AdminPolicy)
            .RequireApiRateLimit()
            .WithSummary("Changes an order's status (admin) and publishes order.status.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/events", StreamAsync)
            .WithSummary("Server-Sent Events: every order event from every instance (text/event-stream).")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream");
        return routes;
    }

    private static async Task<IResult> CreateAsync(CreateOrder body, HttpContext http, ShopDb db, OrderEvents events, TimeProvider time, IOptions<ShopOptions> options)
    {
        var errors = new Problems.Errors()
            .Require(body.Items is { Count: > 0 and <= MaxLines }, "items", $"'items' must hold 1 to {MaxLines} lines.");
        for (var i = 0; body.Items is { Count: <= MaxLines } && i < body.Items.Count; i++)
        {
            var line = body.Items[i];
            errors.Require(line is not null && line.ProductId is > 0, $"items[{i}].productId", "'productId' must be a positive integer.")
                .Require(line is not null && line.Quantity is > 0 and <= MaxQuantity, $"items[{i}].quantity", $"'quantity' must be from 1 to {MaxQuantity}.");
        }

        if (errors.Any)
        {
            return errors.ToResult();
        }

        var lines = body.Items!.GroupBy(l => l.ProductId!.Value).Select(g => (ProductId: g.Key, Quantity: g.Sum(l => l.Quantity!.Value))).ToList();
        var ids = lines.Select(l => l.ProductId).ToArray();
        var now = time.GetUtcNow().UtcDateTime;
        var threshold = options.Value.LowStockThreshold;
        var lowStock = new List<Product>();
        Order order;

        await using (var tx = await db.Database.BeginTransactionAsync(http.RequestAborted))
        {
            order = new Order { UserId = http.User.UserId(), CreatedAt = now, UpdatedAt = now };
            foreach (var (productId, quantity) in lines)
            {
                // One conditional UPDATE per line: the stock check and the decrement are one statement,
                // so two concurrent orders (from any instance) cannot both take the last unit.
                var taken = await db.Products
                    .Where(p => p.Id == productId && p.Stock >= quantity)
                    .ExecuteUpdateAsync(s => s.SetProperty(p => p.Stock, p => p.Stock - quantity).SetProperty(p => p.UpdatedAt, now), http.RequestAborted);
                if (taken == 0)
                {
                    await tx.RollbackAsync(http.RequestAborted);
                    return await db.Products.AnyAsync(p => p.Id == productId, http.RequestAborted)
                        ? Problems.Conflict($"Not enough stock for product {productId}.")
                        : Problems.NotFound($"Product {productId} does not exist.");
                }
            }

            var products = await db.Products.AsNoTracking().Where(p => ids.Contains(p.Id)).ToDictionaryAsync(p => p.Id, http.RequestAborted);
            foreach (var (productId, quantity) in lines)
            {
                var product = products[productId];
                order.Items.Add(new OrderItem { ProductId = productId, Quantity = quantity, UnitPriceCents = product.PriceCents });
                order.TotalCents += product.PriceCents * quantity;
                if (product.Stock + quantity >= threshold && product.Stock < threshold)
                {
                    lowStock.Add(product);
                }
            }

            db.Orders.Add(order);
            await db.SaveChangesAsync(http.RequestAborted);
            await tx.CommitAsync(http.RequestAborted);
        }

        var dto = OrderDto.From(order);
        await events.PublishAsync(new ShopEvent("order.created", order.Id, null, order.Status, dto, now, OrderEvents.Instance), http.RequestAborted);
        foreach (var product in lowStock)
        {
            await events.PublishAsync(new ShopEvent("product.low-stock", null, product.Id, null, new { product.Id, product.Name, product.Stock, threshold }, now, OrderEvents.Instance), http.RequestAborted);
        }

        // Stock changed: the ordered products' cached entries and every list are stale now.
        await Products.InvalidateAsync(http.RequestServices.GetRequiredService<IRedisCache>(), http.RequestServices.GetRequiredService<ILogger<ProductViewSink>>(), ids, http.RequestAborted);
        return TypedResults.Created($"/orders/{order.Id.ToString(CultureInfo.InvariantCulture)}", dto);
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, ShopDb db)
    {
        var order = await db.Orders.AsNoTracking().Include(o => o.Items).FirstOrDefaultAsync(o => o.Id == id, http.RequestAborted);
        if (order is null || (order.UserId != http.User.UserId() && !http.User.IsInRole(Roles.Admin)))
        {
            return Problems.NotFound($"Order {id} does not exist.");
        }

        return TypedResults.Ok(OrderDto.From(order));
    }

    private static async Task<IResult> UpdateStatusAsync(long id, UpdateOrderStatus body, HttpContext http, ShopDb db, OrderEvents events, TimeProvider time)
    {
        var status = body.Status?.Trim().ToLowerInvariant();
        if (status is null || !OrderStatuses.All.Contains(status))
        {
            return Problems.Validation("status", $"'status' must be one of: {string.Join(", ", OrderStatuses.All)}.");
        }

        var order = await db.Orders.Include(o => o.Items).FirstOrDefaultAsync(o => o.Id == id, http.RequestAborted);
        if (order is null)
        {
            return Problems.NotFound($"Order {id} does not exist.");
        }

        var previous = order.Status;
        order.Status = status;
        order.UpdatedAt = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(http.RequestAborted);
        var dto = OrderDto.From(order);
        await events.PublishAsync(new ShopEvent("order.status", order.Id, null, status, new { previous, status }, order.UpdatedAt, OrderEvents.Instance), http.RequestAborted);
        return TypedResults.Ok(dto);
    }

    /// <summary>
    /// Subscribes to the order channel and relays each message as an SSE event. The first line (a
    /// comment) is written once the subscription is active, so a client that saw it misses nothing
    /// published afterwards. A comment every 15 s keeps proxies from closing an idle stream.
    /// </summary>
    private static async Task StreamAsync(HttpContext http, IRedisConnection redis, OrderEvents events, ShopMetrics metrics, ILogger<OrderEvents> logger)
    {
        var aborted = http.RequestAborted;
        var multiplexer = await redis.GetMultiplexerAsync(aborted);
        // Capability seam: replaced by RedisKit messaging when merged
        var queue = await multiplexer.GetSubscriber().SubscribeAsync(events.Channel);
        ShopLog.EventStreamConnected(logger, metrics.EventStreamOpened());
        try
        {
            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            http.Response.Headers["X-Accel-Buffering"] = "no";
            await http.Response.WriteAsync(": subscribed\n\n", aborted);
            await http.Response.Body.FlushAsync(aborted);

            var next = queue.ReadAsync(aborted).AsTask();
            while (!aborted.IsCancellationRequested)
            {
                var finished = await Task.WhenAny(next, Task.Delay(Heartbeat, aborted));
                if (finished != next)
                {
                    await http.Response.WriteAsync(": keep-alive\n\n", aborted);
                    await http.Response.Body.FlushAsync(aborted);
                    continue;
                }

                var message = await next;
                var payload = message.Message.ToString();
                var type = "message";
                try
                {
                    using var doc = JsonDocument.Parse(payload);
                    if (doc.RootElement.TryGetProperty("type", out var t) && t.GetString() is { Length: > 0 } name)
                    {
                        type = name;
                    }
                }
                catch (JsonException)
                {
                    // Not ours: relay as a plain message.
                }

                var frame = new StringBuilder()
                    .Append("event: ").Append(type).Append('\n')
                    .Append("data: ").Append(payload.Replace("\n", "\ndata: ", StringComparison.Ordinal)).Append("\n\n")
                    .ToString();
                await http.Response.WriteAsync(frame, aborted);
                await http.Response.Body.FlushAsync(aborted);
                next = queue.ReadAsync(aborted).AsTask();
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client left.
        }
        catch (ChannelClosedException)
        {
            // Unsubscribed during shutdown.
        }
        finally
        {
            await queue.UnsubscribeAsync();
            ShopLog.EventStreamDisconnected(logger, metrics.EventStreamClosed());
        }
    }
}

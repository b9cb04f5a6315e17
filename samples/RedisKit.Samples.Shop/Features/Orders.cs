using System.Globalization;
using System.Text;
using System.Text.Json;
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
/// Publishes order events through the RedisKit message bus on the channel <c>orders</c>
/// (<c>{prefix}:chan:orders</c> on the wire); every instance's <c>/orders/events</c> subscribers receive
/// them, whichever instance published.
/// </summary>
public sealed class OrderEvents(IMessageBus bus, IOptions<JsonOptions> json, ShopMetrics metrics, ILogger<OrderEvents> logger)
{
    /// <summary>The channel name given to the bus (RedisKit adds the prefix).</summary>
    public const string Channel = "orders";

    /// <summary>Identifies this process in events (and as the payments consumer name).</summary>
    public static readonly string Instance = $"{Environment.MachineName}:{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}:{Guid.NewGuid().ToString("N")[..6]}";

    public JsonSerializerOptions JsonOptions => json.Value.SerializerOptions;

    /// <summary>Publishes (one PUBLISH); a failure is logged, not thrown: the order is already stored.</summary>
    public async Task PublishAsync(ShopEvent shopEvent, CancellationToken cancellationToken)
    {
        try
        {
            await bus.PublishAsync(Channel, shopEvent, cancellationToken);
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

    /// <summary>Events that may wait for one slow SSE client before the oldest are dropped.</summary>
    public const int EventQueueCapacity = 256;

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
    /// Relays the <c>orders</c> channel as Server-Sent Events. Each client is one RedisKit subscription with
    /// a bounded queue (<see cref="EventQueueCapacity"/>, drop-oldest): a browser that reads slowly loses
    /// old events instead of growing the server's memory. <c>: subscribed</c> is written once the
    /// subscription is active, so a client that saw it misses nothing published afterwards. A comment
    /// every 15 s keeps proxies from closing an idle stream.
    /// </summary>
    private static async Task StreamAsync(HttpContext http, IMessageBus bus, OrderEvents events, ShopMetrics metrics, ILogger<OrderEvents> logger)
    {
        var aborted = http.RequestAborted;
        using var gate = new SemaphoreSlim(1, 1); // the handler and the heartbeat both write the response
        var subscription = await bus.SubscribeAsync<ShopEvent>(OrderEvents.Channel, async (message, _) =>
        {
            if (message.Message is not { } shopEvent || aborted.IsCancellationRequested)
            {
                return;
            }

            var payload = JsonSerializer.Serialize(shopEvent, events.JsonOptions);
            var frame = new StringBuilder()
                .Append("event: ").Append(shopEvent.Type).Append('\n')
                .Append("data: ").Append(payload.Replace("\n", "\ndata: ", StringComparison.Ordinal)).Append("\n\n")
                .ToString();
            try
            {
                await WriteAsync(http, gate, frame, aborted);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
            {
                // The client left; the request loop unsubscribes.
            }
        }, new SubscriptionOptions { QueueCapacity = EventQueueCapacity, OverflowPolicy = PubSubOverflowPolicy.DropOldest }, aborted);
        ShopLog.EventStreamConnected(logger, metrics.EventStreamOpened());
        try
        {
            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            http.Response.Headers["X-Accel-Buffering"] = "no";
            await WriteAsync(http, gate, ": subscribed\n\n", aborted);
            while (!aborted.IsCancellationRequested)
            {
                await Task.Delay(Heartbeat, aborted);
                await WriteAsync(http, gate, ": keep-alive\n\n", aborted);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client left.
        }
        finally
        {
            var dropped = subscription.Dropped;
            await subscription.DisposeAsync();
            if (dropped > 0)
            {
                MessagingLog.EventsDropped(logger, dropped);
            }

            ShopLog.EventStreamDisconnected(logger, metrics.EventStreamClosed());
        }
    }

    private static async Task WriteAsync(HttpContext http, SemaphoreSlim gate, string text, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            await http.Response.WriteAsync(text, cancellationToken);
            await http.Response.Body.FlushAsync(cancellationToken);
        }
        finally
        {
            gate.Release();
        }
    }
}

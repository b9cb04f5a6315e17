using System.Globalization;
using Microsoft.EntityFrameworkCore;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Infrastructure;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Features;

public sealed record CreatePayment(long? OrderId);

public sealed record PaymentDto(long Id, long OrderId, decimal Amount, string Status, long? FencingToken, int Attempts, DateTime CreatedAt, DateTime? ProcessedAt)
{
    public static PaymentDto From(Payment p) => new(p.Id, p.OrderId, p.AmountCents / 100m, p.Status, p.FencingToken, p.Attempts, p.CreatedAt, p.ProcessedAt);
}

/// <summary>The queue of payments to process: a Redis list shared by every instance (RPOP hands each id to one worker).</summary>
// Capability seam: replaced by RedisKit messaging (a stream with a consumer group) when merged
public sealed class PaymentQueue(IRedisConnection redis)
{
    public RedisKey QueueKey => redis.Keys.Key("sample", "payments", "queue");

    public async Task EnqueueAsync(long paymentId, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        await db.ListLeftPushAsync(QueueKey, paymentId);
    }

    public async Task<long?> DequeueAsync(CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        var value = await db.ListRightPopAsync(QueueKey);
        return value.IsNull ? null : (long)value;
    }

    public async Task<long> LengthAsync(CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        return await db.ListLengthAsync(QueueKey);
    }

    /// <summary>A new, strictly larger fencing token for the payment (INCR).</summary>
    public async Task<long> NextFencingTokenAsync(long paymentId, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        return await db.StringIncrementAsync(redis.Keys.Key("sample", "payments", "fence", paymentId.ToString(CultureInfo.InvariantCulture)));
    }
}

/// <summary>
/// Processes queued payments. The charge is one conditional UPDATE that carries the worker's fencing
/// token: it succeeds only while the payment is pending and no newer token has written it, so a
/// payment is charged at most once even if two workers hold it.
/// </summary>
// Capability seam: replaced by RedisKit locking (lock + fencing token) and messaging when merged
public sealed class PaymentWorker(PaymentQueue queue, IServiceScopeFactory scopes, TimeProvider time, ILogger<PaymentWorker> logger) : BackgroundService
{
    private static readonly TimeSpan IdleDelay = TimeSpan.FromMilliseconds(100);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var id = await queue.DequeueAsync(stoppingToken);
                if (id is null)
                {
                    await Task.Delay(IdleDelay, stoppingToken);
                    continue;
                }

                await ProcessAsync(id.Value, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                ShopLog.PaymentWorkerFailed(logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        }
    }

    public async Task<bool> ProcessAsync(long paymentId, CancellationToken cancellationToken)
    {
        var token = await queue.NextFencingTokenAsync(paymentId, cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        var now = time.GetUtcNow().UtcDateTime;
        // The "charge" of this sample is the state change itself; a real gateway call would sit
        // here and pass the fencing token (or the payment id as idempotency key) to the gateway.
        var charged = await db.Payments
            .Where(p => p.Id == paymentId && p.Status == PaymentStatuses.Pending && (p.FencingToken == null || p.FencingToken < token))
            .ExecuteUpdateAsync(s => s
                .SetProperty(p => p.Status, PaymentStatuses.Charged)
                .SetProperty(p => p.FencingToken, token)
                .SetProperty(p => p.Attempts, p => p.Attempts + 1)
                .SetProperty(p => p.ProcessedAt, now), cancellationToken);
        if (charged == 1)
        {
            var orderId = await db.Payments.Where(p => p.Id == paymentId).Select(p => p.OrderId).FirstAsync(cancellationToken);
            await db.Orders.Where(o => o.Id == orderId && o.Status == OrderStatuses.Placed)
                .ExecuteUpdateAsync(s => s.SetProperty(o => o.Status, "paid").SetProperty(o => o.UpdatedAt, now), cancellationToken);
            ShopLog.PaymentCharged(logger, paymentId, token);
            return true;
        }

        ShopLog.PaymentFenced(logger, paymentId, token);
        return false;
    }
}

public static class Payments
{
    public static IEndpointRouteBuilder MapPayments(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/payments").WithTags("Payments").RequireAuthorization().RequireApiRateLimit();

        group.MapPost("", CreateAsync)
            .WithSummary("Queues the payment of one of your orders (202). Paying an order twice returns the first payment.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{id:long}", GetAsync)
            .WithSummary("A payment's status: pending, charged or failed.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return routes;
    }

    private static async Task<IResult> CreateAsync(CreatePayment body, HttpContext http, ShopDb db, PaymentQueue queue, TimeProvider time)
    {
        if (body.OrderId is not > 0)
        {
            return Problems.Validation("orderId", "'orderId' must be a positive integer.");
        }

        var userId = http.User.UserId();
        var isAdmin = http.User.IsInRole(Roles.Admin);
        var order = await db.Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == body.OrderId && (isAdmin || o.UserId == userId), http.RequestAborted);
        if (order is null)
        {
            return Problems.NotFound($"Order {body.OrderId} does not exist.");
        }

        var existing = await db.Payments.AsNoTracking()
            .Where(p => p.OrderId == order.Id && p.Status != PaymentStatuses.Failed)
            .OrderBy(p => p.Id)
            .FirstOrDefaultAsync(http.RequestAborted);
        if (existing is not null)
        {
            return TypedResults.Ok(PaymentDto.From(existing));
        }

        var payment = new Payment { OrderId = order.Id, AmountCents = order.TotalCents, CreatedAt = time.GetUtcNow().UtcDateTime };
        db.Payments.Add(payment);
        await db.SaveChangesAsync(http.RequestAborted);
        await queue.EnqueueAsync(payment.Id, http.RequestAborted);
        return TypedResults.Accepted($"/payments/{payment.Id.ToString(CultureInfo.InvariantCulture)}", PaymentDto.From(payment));
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, ShopDb db)
    {
        var userId = http.User.UserId();
        var isAdmin = http.User.IsInRole(Roles.Admin);
        var payment = await db.Payments.AsNoTracking()
            .Where(p => p.Id == id && (isAdmin || db.Orders.Any(o => o.Id == p.OrderId && o.UserId == userId)))
            .FirstOrDefaultAsync(http.RequestAborted);
        return payment is null ? Problems.NotFound($"Payment {id} does not exist.") : TypedResults.Ok(PaymentDto.From(payment));
    }
}

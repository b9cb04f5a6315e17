using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Infrastructure;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Features;

public sealed record CreatePayment(long? OrderId);

public sealed record PaymentDto(long Id, long OrderId, decimal Amount, string Status, long? FencingToken, int Attempts, DateTime CreatedAt, DateTime? ProcessedAt)
{
    public static PaymentDto From(Payment p) => new(p.Id, p.OrderId, p.AmountCents / 100m, p.Status, p.FencingToken, p.Attempts, p.CreatedAt, p.ProcessedAt);
}

/// <summary>The stream entry asking for a payment to be charged (JSON <c>{"paymentId":42}</c>).</summary>
public sealed record PaymentRequested(long PaymentId);

/// <summary>What <see cref="PaymentCharges.TryChargeAsync"/> did.</summary>
public enum ChargeOutcome
{
    /// <summary>This holder charged the payment.</summary>
    Charged,

    /// <summary>The payment was already charged or failed (a duplicate delivery): nothing done.</summary>
    AlreadyProcessed,

    /// <summary>The row carries a newer fencing token than this holder's: its lock was lost, nothing written.</summary>
    StaleToken,

    /// <summary>No such payment.</summary>
    NotFound,
}

/// <summary>
/// The fenced writes of a payment row: RedisKit's "fencing at the resource" against a SQL row
/// (docs/locks.md). Every write carries the fencing token of the lock holder and is conditional on
/// <c>fencing_token &lt;= @fence</c>; the affected row count says whether it was accepted. A holder whose
/// lock expired (GC pause, stopped VM) and was taken by another worker wakes up with an older token and
/// its write matches no row.
/// </summary>
public static class PaymentCharges
{
    /// <summary>
    /// Charges <paramref name="paymentId"/> as the holder of fencing token <paramref name="fence"/>, in two
    /// fenced statements (EF Core generates exactly this SQL):
    /// <code>
    /// -- 1. claim: record our token; refused if a newer holder already did
    /// UPDATE payments SET fencing_token = @fence, attempts = attempts + 1
    ///  WHERE id = @id AND status = 'pending' AND (fencing_token IS NULL OR fencing_token &lt;= @fence);
    /// -- (the gateway call goes here, with the payment id as its idempotency key)
    /// -- 2. commit: refused if a newer holder claimed the row meanwhile
    /// UPDATE payments SET status = 'charged', processed_at = @now
    ///  WHERE id = @id AND status = 'pending' AND fencing_token &lt;= @fence;
    /// </code>
    /// 0 rows affected by either statement: this holder must stop (see <see cref="ChargeOutcome"/>). The commit
    /// also marks a <c>placed</c> order <c>paid</c>, in the same transaction.
    /// </summary>
    public static async Task<ChargeOutcome> TryChargeAsync(ShopDb db, long paymentId, long fence, DateTime now, CancellationToken cancellationToken, TimeSpan gatewayLatency = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        var claimed = await db.Payments
            .Where(p => p.Id == paymentId && p.Status == PaymentStatuses.Pending && (p.FencingToken == null || p.FencingToken <= fence))
            .ExecuteUpdateAsync(s => s
                .SetProperty(p => p.FencingToken, fence)
                .SetProperty(p => p.Attempts, p => p.Attempts + 1), cancellationToken);
        if (claimed == 0)
        {
            return await ExplainAsync(db, paymentId, cancellationToken);
        }

        // The "charge" of this sample is the state change itself; a real gateway call would sit here
        // and pass the payment id as its idempotency key. Its latency can be simulated
        // (Shop:PaymentGatewayLatencyMilliseconds) so that payments are in flight when a process dies.
        if (gatewayLatency > TimeSpan.Zero)
        {
            await Task.Delay(gatewayLatency, cancellationToken);
        }

        // The payment and its order change together: nobody sees a charged payment on a "placed" order.
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var committed = await db.Payments
            .Where(p => p.Id == paymentId && p.Status == PaymentStatuses.Pending && p.FencingToken <= fence)
            .ExecuteUpdateAsync(s => s
                .SetProperty(p => p.Status, PaymentStatuses.Charged)
                .SetProperty(p => p.ProcessedAt, now), cancellationToken);
        if (committed == 0)
        {
            await tx.RollbackAsync(cancellationToken);
            return await ExplainAsync(db, paymentId, cancellationToken);
        }

        var orderId = await db.Payments.Where(p => p.Id == paymentId).Select(p => p.OrderId).FirstAsync(cancellationToken);
        await db.Orders.Where(o => o.Id == orderId && o.Status == OrderStatuses.Placed)
            .ExecuteUpdateAsync(s => s.SetProperty(o => o.Status, "paid").SetProperty(o => o.UpdatedAt, now), cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return ChargeOutcome.Charged;
    }

    private static async Task<ChargeOutcome> ExplainAsync(ShopDb db, long paymentId, CancellationToken cancellationToken)
    {
        var status = await db.Payments.Where(p => p.Id == paymentId).Select(p => p.Status).FirstOrDefaultAsync(cancellationToken);
        return status switch
        {
            null => ChargeOutcome.NotFound,
            PaymentStatuses.Pending => ChargeOutcome.StaleToken,
            _ => ChargeOutcome.AlreadyProcessed,
        };
    }
}

/// <summary>
/// Charges one payment under the RedisKit lock <c>payment:{id}</c> and passes the lock's fencing token to
/// the fenced SQL update (<see cref="PaymentCharges"/>). The lock keeps two workers from doing the work
/// twice; the fencing token keeps a worker whose lock was lost from writing. Used by the stream handler
/// and, on a server without streams, inline by <c>POST /payments</c>.
/// </summary>
public sealed class PaymentProcessor(IRedisLockProvider locks, IServiceScopeFactory scopes, OrderEvents events, TimeProvider time, IOptions<ShopOptions> options, ILogger<PaymentProcessor> logger)
{
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(10);
    private readonly TimeSpan _gatewayLatency = TimeSpan.FromMilliseconds(options.Value.PaymentGatewayLatencyMilliseconds);

    /// <summary>
    /// Charges the payment once. Throws <see cref="TimeoutException"/> when the lock stays held for 10 s and
    /// Redis errors when Redis is down (the stream consumer then retries the entry).
    /// </summary>
    public async Task<ChargeOutcome> ProcessAsync(long paymentId, CancellationToken cancellationToken)
    {
        await using var handle = await locks.CreateLock("payment:" + paymentId.ToString(CultureInfo.InvariantCulture)).AcquireAsync(LockWait, cancellationToken);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, handle.HandleLostToken);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        var now = time.GetUtcNow().UtcDateTime;
        var outcome = await PaymentCharges.TryChargeAsync(db, paymentId, handle.FencingToken, now, linked.Token, _gatewayLatency);
        switch (outcome)
        {
            case ChargeOutcome.Charged:
                MessagingLog.PaymentCharged(logger, paymentId, handle.FencingToken);
                var orderId = await db.Payments.Where(p => p.Id == paymentId).Select(p => p.OrderId).FirstAsync(cancellationToken);
                await events.PublishAsync(new ShopEvent("order.status", orderId, null, "paid", new { status = "paid", paymentId }, now, OrderEvents.Instance), cancellationToken);
                break;
            case ChargeOutcome.StaleToken:
                MessagingLog.PaymentStaleToken(logger, paymentId, handle.FencingToken);
                break;
            case ChargeOutcome.AlreadyProcessed:
                MessagingLog.PaymentAlreadyProcessed(logger, paymentId);
                break;
        }

        return outcome;
    }
}

/// <summary>
/// Handles the <c>payments</c> stream for the consumer group <see cref="ShopMessaging.PaymentsGroup"/>.
/// Delivery is at least once; <see cref="PaymentProcessor"/> makes a repeat a no-op. A payment that does
/// not exist throws, so RedisKit retries it and, after <c>MaxDeliveries</c>, moves it to the dead-letter
/// stream <c>{prefix}:stream:{payments}:dead</c> with the error.
/// </summary>
public sealed class PaymentHandler(PaymentProcessor processor) : IStreamHandler<PaymentRequested>
{
    public async Task HandleAsync(StreamMessage<PaymentRequested> message, CancellationToken cancellationToken)
    {
        var outcome = await processor.ProcessAsync(message.Message.PaymentId, cancellationToken);
        if (outcome == ChargeOutcome.NotFound)
        {
            throw new InvalidOperationException($"Payment {message.Message.PaymentId} does not exist (stream entry {message.Id}).");
        }
    }
}

/// <summary>
/// The outbox sweep of the payments stream. <c>POST /payments</c> stores the payment, then adds its stream
/// entry; if Redis fails between the two, the payment is pending with no entry and nothing would ever charge
/// it. Every <see cref="Interval"/>, payments pending longer than <c>Shop:PaymentRequeueAfterSeconds</c> are
/// added again with the idempotency key <c>payment:{id}</c>: an entry that already exists (pending or
/// processed, within the producer's idempotency window) is not duplicated, and a duplicate delivery is a
/// no-op anyway (<see cref="ChargeOutcome.AlreadyProcessed"/>). Every instance runs it; the key makes that safe.
/// </summary>
internal sealed class PendingPaymentRequeuer(IServiceScopeFactory scopes, IStreamProducer producer, TimeProvider time, IOptions<ShopOptions> options, ILogger<PendingPaymentRequeuer> logger) : BackgroundService
{
    private const int BatchSize = 200;

    private TimeSpan After => TimeSpan.FromSeconds(options.Value.PaymentRequeueAfterSeconds);

    private TimeSpan Interval => After / 4 < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : After / 4;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or DbUpdateException or Microsoft.Data.Sqlite.SqliteException)
            {
                MessagingLog.PaymentRequeueFailed(logger, ex);
            }
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var cutoff = now - After;
        List<(long Id, DateTime CreatedAt)> stale;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
            stale = (await db.Payments.AsNoTracking()
                .Where(p => p.Status == PaymentStatuses.Pending && p.CreatedAt < cutoff)
                .OrderBy(p => p.Id)
                .Select(p => new { p.Id, p.CreatedAt })
                .Take(BatchSize)
                .ToListAsync(cancellationToken)).Select(p => (p.Id, p.CreatedAt)).ToList();
        }

        foreach (var (id, createdAt) in stale)
        {
            var added = await producer.AddAsync(ShopMessaging.PaymentsStream, new PaymentRequested(id),
                idempotencyKey: "payment:" + id.ToString(CultureInfo.InvariantCulture), cancellationToken: cancellationToken);
            if (!added.Duplicate)
            {
                MessagingLog.PaymentRequeued(logger, id, now - createdAt);
            }
        }
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

    /// <summary>
    /// Creates the payment of an order (or returns the existing one) under the RedisKit lock
    /// <c>payment-order:{orderId}</c>, so two concurrent requests from any instances create one payment,
    /// then adds it to the payments stream with an idempotency key: the client's <c>Idempotency-Key</c>
    /// header (scoped to the user and order) or else the payment id, so a retried add is not a second entry.
    /// </summary>
    private static async Task<IResult> CreateAsync(CreatePayment body, HttpContext http, ShopDb db, IRedisLockProvider locks, IStreamProducer producer, PaymentProcessor processor, PaymentsModeHolder mode, TimeProvider time)
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

        var clientKey = http.Request.Headers["Idempotency-Key"].ToString();
        if (clientKey.Length > 200)
        {
            return Problems.Validation("Idempotency-Key", "'Idempotency-Key' must be at most 200 characters.");
        }

        Payment payment;
        await using (await locks.CreateLock("payment-order:" + order.Id.ToString(CultureInfo.InvariantCulture)).AcquireAsync(TimeSpan.FromSeconds(10), http.RequestAborted))
        {
            var existing = await db.Payments.AsNoTracking()
                .Where(p => p.OrderId == order.Id && p.Status != PaymentStatuses.Failed)
                .OrderBy(p => p.Id)
                .FirstOrDefaultAsync(http.RequestAborted);
            if (existing is not null)
            {
                return TypedResults.Ok(PaymentDto.From(existing));
            }

            payment = new Payment { OrderId = order.Id, AmountCents = order.TotalCents, CreatedAt = time.GetUtcNow().UtcDateTime };
            db.Payments.Add(payment);
            await db.SaveChangesAsync(http.RequestAborted);
        }

        var paymentKey = "payment:" + payment.Id.ToString(CultureInfo.InvariantCulture);
        if (mode.Mode == PaymentsMode.Stream)
        {
            var request = new PaymentRequested(payment.Id);
            var added = await producer.AddAsync(ShopMessaging.PaymentsStream, request,
                idempotencyKey: clientKey.Length > 0 ? $"client:{userId}:{order.Id}:{clientKey}" : paymentKey,
                cancellationToken: http.RequestAborted);
            if (added.Duplicate && clientKey.Length > 0)
            {
                // The client reused its key for an earlier payment of this order (one that failed): this new
                // payment still needs its own entry.
                await producer.AddAsync(ShopMessaging.PaymentsStream, request, idempotencyKey: paymentKey, cancellationToken: http.RequestAborted);
            }
        }
        else
        {
            await processor.ProcessAsync(payment.Id, http.RequestAborted);
        }

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

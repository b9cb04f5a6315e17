using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Features;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Tests;

/// <summary>
/// Payments on the RedisKit stream, lock and fenced SQL update, end to end on the two instances of
/// <see cref="ShopFixture"/> (real redis-server, real SQLite file).
/// </summary>
[Collection(ShopCollection.Name)]
public sealed class MessagingTests(ShopFixture shop)
{
    [Fact]
    public async Task Payments_SameIdempotencyKeySubmittedTwiceOnBothInstances_ChargedOnce()
    {
        var (carolA, _) = await shop.SignInAsync("carol", "carol-pass-2026");
        using var carolB = new HttpClient { BaseAddress = shop.B, Timeout = TimeSpan.FromSeconds(30) };
        carolB.DefaultRequestHeaders.Authorization = carolA.DefaultRequestHeaders.Authorization;
        var order = await JsonAsync(await carolA.PostAsJsonAsync("orders", new { items = new[] { new { productId = 301, quantity = 2 } } }), HttpStatusCode.Created);
        var orderId = order.GetProperty("id").GetInt64();
        var key = "pay-" + Guid.NewGuid().ToString("N");

        // Six submissions of the same payment at once, half on each instance, all with one Idempotency-Key.
        var submissions = Enumerable.Range(0, 6).Select(i =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "payments") { Content = JsonContent.Create(new { orderId }) };
            request.Headers.Add("Idempotency-Key", key);
            return (i % 2 == 0 ? carolA : carolB).SendAsync(request);
        }).ToList();
        var responses = await Task.WhenAll(submissions);
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Accepted);
        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK, r.StatusCode.ToString()));
        var ids = new HashSet<long>();
        foreach (var response in responses)
        {
            ids.Add((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64());
        }

        var id = Assert.Single(ids);

        // A redelivered entry for the same payment (at-least-once delivery) must not charge again.
        var producer = shop.ServicesA.GetRequiredService<IStreamProducer>();
        await producer.AddAsync(ShopMessaging.PaymentsStream, new PaymentRequested(id));

        var charged = await EventuallyAsync(async () =>
        {
            var p = await JsonAsync(await carolA.GetAsync($"payments/{id}"));
            return p.GetProperty("status").GetString() == "charged" ? p : (JsonElement?)null;
        });
        await EventuallyAsync(async () => await GroupIdleAsync() ? charged : (JsonElement?)null);
        var final = await JsonAsync(await carolB.GetAsync($"payments/{id}"));
        Assert.Equal("charged", final.GetProperty("status").GetString());
        Assert.Equal(1, final.GetProperty("attempts").GetInt32());
        Assert.Equal(charged.GetProperty("fencingToken").GetInt64(), final.GetProperty("fencingToken").GetInt64());
        Assert.Equal("paid", (await JsonAsync(await carolA.GetAsync($"orders/{orderId}"))).GetProperty("status").GetString());

        await using var scope = shop.ServicesA.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        Assert.Equal(1, db.Payments.Count(p => p.OrderId == orderId));

        using var tooLong = new HttpRequestMessage(HttpMethod.Post, "payments") { Content = JsonContent.Create(new { orderId }) };
        tooLong.Headers.Add("Idempotency-Key", new string('k', 201));
        var refused = await carolA.SendAsync(tooLong);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task PaymentCharges_StaleFencingToken_RejectedBySqlUpdate()
    {
        var paymentId = await NewPendingPaymentAsync();
        var locks = shop.ServicesA.GetRequiredService<IRedisLockProvider>();
        var name = "payment:" + paymentId;

        // Worker 1 takes the lock, then "pauses" past its expiry (no auto-extension): worker 2 takes the lock
        // with a newer fencing token and claims the row first.
        var settings = new RedisLockSettings { Expiry = TimeSpan.FromMilliseconds(300), AutoExtend = false };
        var stale = await locks.CreateLock(name, settings).TryAcquireAsync();
        Assert.NotNull(stale);
        await using var fresh = await locks.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
        Assert.True(fresh.FencingToken > stale.FencingToken);

        await using var scope = shop.ServicesA.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        // Worker 2 has claimed the row (recorded its token) but not committed yet.
        Assert.Equal(1, await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ExecuteUpdateAsync(
            db.Payments.Where(p => p.Id == paymentId), s => s.SetProperty(p => p.FencingToken, fresh.FencingToken)));

        // Worker 1 wakes up and tries to charge with its old token: the conditional UPDATE matches no row.
        var outcome = await PaymentCharges.TryChargeAsync(db, paymentId, stale.FencingToken, DateTime.UtcNow, CancellationToken.None);
        Assert.Equal(ChargeOutcome.StaleToken, outcome);
        var row = Row(db, paymentId);
        Assert.Equal((PaymentStatuses.Pending, fresh.FencingToken, 0), (row.Status, row.FencingToken, row.Attempts));

        // Worker 2 charges; a later repeat (even with a newer token) changes nothing.
        Assert.Equal(ChargeOutcome.Charged, await PaymentCharges.TryChargeAsync(db, paymentId, fresh.FencingToken, DateTime.UtcNow, CancellationToken.None));
        Assert.Equal(ChargeOutcome.AlreadyProcessed, await PaymentCharges.TryChargeAsync(db, paymentId, fresh.FencingToken + 1, DateTime.UtcNow, CancellationToken.None));
        row = Row(db, paymentId);
        Assert.Equal((PaymentStatuses.Charged, fresh.FencingToken, 1), (row.Status, row.FencingToken, row.Attempts));
        await stale.DisposeAsync(); // releasing an expired lock must not free worker 2's lock
        Assert.Null(await locks.CreateLock(name).TryAcquireAsync());
    }

    [Fact]
    public async Task Payments_PoisonEntry_EndsInDeadLetterStreamWithError()
    {
        var producer = shop.ServicesA.GetRequiredService<IStreamProducer>();
        var missing = 900_000_000L + Random.Shared.Next(1_000_000);
        var added = await producer.AddAsync(ShopMessaging.PaymentsStream, new PaymentRequested(missing));

        var redis = shop.ServicesA.GetRequiredService<IRedisConnection>();
        var db = await redis.GetDatabaseAsync();
        var deadKey = redis.Keys.TaggedKey("stream", ShopMessaging.PaymentsStream, "dead");
        var entry = await EventuallyAsync(async () =>
        {
            var entries = await db.StreamRangeAsync(deadKey);
            return entries.Where(e => e["dead.id"] == added.Id).Select(e => (StreamEntry?)e).FirstOrDefault();
        });
        Assert.Contains("does not exist", entry["dead.error"].ToString(), StringComparison.Ordinal);
        Assert.Equal(ShopMessaging.PaymentsGroup, entry["dead.group"].ToString());
        var stats = await JsonAsync(await shop.ClientB.GetAsync("admin/stats"));
        Assert.True(stats.GetProperty("messaging").GetProperty("deadLettered").GetInt64() >= 1);
    }

    private async Task<long> NewPendingPaymentAsync()
    {
        var (carol, _) = await shop.SignInAsync("carol", "carol-pass-2026");
        var order = await JsonAsync(await carol.PostAsJsonAsync("orders", new { items = new[] { new { productId = 302, quantity = 1 } } }), HttpStatusCode.Created);
        await using var scope = shop.ServicesA.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        // Inserted directly, not through POST /payments: no stream entry, so no worker races the test.
        var payment = new Payment { OrderId = order.GetProperty("id").GetInt64(), AmountCents = 100, CreatedAt = DateTime.UtcNow };
        db.Payments.Add(payment);
        await db.SaveChangesAsync();
        return payment.Id;
    }

    private static (string Status, long? FencingToken, int Attempts) Row(ShopDb db, long id) =>
        db.Payments.Where(p => p.Id == id).Select(p => new { p.Status, p.FencingToken, p.Attempts }).AsEnumerable()
            .Select(p => (p.Status, p.FencingToken, p.Attempts)).Single();

    private async Task<bool> GroupIdleAsync()
    {
        var redis = shop.ServicesA.GetRequiredService<IRedisConnection>();
        var db = await redis.GetDatabaseAsync();
        var groups = await db.StreamGroupInfoAsync(redis.Keys.TaggedKey("stream", ShopMessaging.PaymentsStream));
        var group = groups.Single(g => g.Name == ShopMessaging.PaymentsGroup);
        return group.Lag == 0 && group.PendingMessageCount == 0;
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode status = HttpStatusCode.OK)
    {
        Assert.True(response.StatusCode == status, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe)
        where T : struct
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60); // returns as soon as the condition holds; the bound only matters on a stalled machine
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            Assert.True(DateTime.UtcNow < deadline, "condition not met within 60 s");
            await Task.Delay(100);
        }
    }
}

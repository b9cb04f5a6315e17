using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace RedisKit.Reliability;

/// <summary>Signs users in and drives the sample's order → payment flow; reads its SQLite database.</summary>
public static class ShopDriver
{
    public static readonly (string User, string Password)[] Users = [("alice", "alice-pass-2026"), ("bob", "bob-pass-2026"), ("carol", "carol-pass-2026")];

    /// <summary>Signs in <paramref name="count"/> sessions spread over the demo users; returns their ids.</summary>
    public static async Task<IReadOnlyList<string>> SignInAsync(Uri instance, int count, CancellationToken cancellationToken = default)
    {
        // No cookies: a login that carries an earlier session's cookie ends that session (fixation defence).
        using var handler = new HttpClientHandler { UseCookies = false };
        using var client = new HttpClient(handler) { BaseAddress = instance, Timeout = TimeSpan.FromSeconds(30) };
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var (user, password) = Users[i % Users.Length];
            using var response = await client.PostAsJsonAsync(new Uri("auth/login", UriKind.Relative), new { username = user, password }, cancellationToken).ConfigureAwait(false);
            response.EnsureSuccessStatusCode();
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken).ConfigureAwait(false);
            ids.Add(body.GetProperty("sessionId").GetString()!);
        }

        return ids;
    }

    /// <summary>
    /// Until <paramref name="cancellationToken"/> fires, <paramref name="workers"/> loops each create an order of
    /// one unit (POST /orders) and pay it (POST /payments), against the instances in turn. Every answer is
    /// counted by step and status; every accepted payment's id is kept.
    /// </summary>
    public static async Task<PaymentTraffic> DrivePaymentsAsync(IReadOnlyList<Func<Uri?>> instances, IReadOnlyList<string> sessions, int workers, CancellationToken cancellationToken)
    {
        var traffic = new PaymentTraffic();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
        {
            using var handler = new HttpClientHandler { UseCookies = false };
            using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(15) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", sessions[worker % sessions.Count]);
            var random = new Random(worker);
            while (!cancellationToken.IsCancellationRequested)
            {
                var instance = instances[worker % instances.Count]();
                if (instance is null)
                {
                    await Pause(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var order = await SendAsync(client, traffic, "POST /orders", new Uri(instance, "orders"), new { items = new[] { new { productId = random.Next(1, 101), quantity = 1 } } }).ConfigureAwait(false);
                if (order is not { } created || !created.TryGetProperty("id", out var orderId))
                {
                    await Pause(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var payment = await SendAsync(client, traffic, "POST /payments", new Uri(instance, "payments"), new { orderId = orderId.GetInt64() }).ConfigureAwait(false);
                if (payment is { } accepted && accepted.TryGetProperty("id", out var paymentId))
                {
                    traffic.Accepted.Add(paymentId.GetInt64());
                }
            }
        }, CancellationToken.None))).ConfigureAwait(false);
        return traffic;
    }

    private static async Task Pause(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    private static async Task<JsonElement?> SendAsync(HttpClient client, PaymentTraffic traffic, string step, Uri uri, object body)
    {
        try
        {
            // Not cancelled by the run's end: a request in flight completes and is counted.
            using var response = await client.PostAsJsonAsync(uri, body).ConfigureAwait(false);
            traffic.Count(step, ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
            if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Accepted or HttpStatusCode.OK)
            {
                return await response.Content.ReadFromJsonAsync<JsonElement>().ConfigureAwait(false);
            }
        }
        catch (HttpRequestException ex)
        {
            traffic.Count(step, "connection error (" + (ex.HttpRequestError.ToString()) + ")");
        }
        catch (TaskCanceledException)
        {
            traffic.Count(step, "client timeout (15 s)");
        }

        return null;
    }

    /// <summary>Payment rows by status, and how many were claimed more than once (a reclaim after a lost holder).</summary>
    public static async Task<PaymentLedger> ReadLedgerAsync(string databasePath, CancellationToken cancellationToken = default)
    {
        await using var connection = new SqliteConnection($"Data Source={databasePath};Mode=ReadOnly");
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        var byStatus = new Dictionary<string, long>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT status, COUNT(*) FROM payments GROUP BY status";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                byStatus[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        var charged = new HashSet<long>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT id FROM payments WHERE status = 'charged'";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                charged.Add(reader.GetInt64(0));
            }
        }

        return new PaymentLedger(byStatus, charged,
            await ScalarAsync(connection, "SELECT COUNT(*) FROM payments WHERE attempts > 1", cancellationToken).ConfigureAwait(false),
            await ScalarAsync(connection, "SELECT COALESCE(SUM(count), 0) FROM product_views", cancellationToken).ConfigureAwait(false));
    }

    private static async Task<long> ScalarAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }
}

/// <summary>What the payment drivers saw.</summary>
public sealed class PaymentTraffic
{
    public ConcurrentDictionary<string, long> Answers { get; } = new();

    public ConcurrentBag<long> Accepted { get; } = [];

    public void Count(string step, string status) => Answers.AddOrUpdate(step + " → " + status, 1, (_, n) => n + 1);

    public long Where(Func<string, bool> predicate) => Answers.Where(a => predicate(a.Key)).Sum(a => a.Value);
}

/// <summary>The payments table: rows by status, the ids charged, rows claimed more than once, and the view total.</summary>
public sealed record PaymentLedger(IReadOnlyDictionary<string, long> ByStatus, IReadOnlySet<long> Charged, long ClaimedMoreThanOnce, long ViewsInDatabase)
{
    public long Pending => ByStatus.GetValueOrDefault("pending");

    public long Total => ByStatus.Values.Sum();
}

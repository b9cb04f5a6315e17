using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using RedisKit.Testing;

namespace RedisKit.Reliability;

/// <summary>How long each part of a run lasts and how hard the load pushes.</summary>
public sealed record RunOptions(TimeSpan Steady, TimeSpan Fault, TimeSpan After, int Connections = 32, int PaymentWorkers = 2)
{
    /// <summary>The published runs (docs/reliability.md).</summary>
    public static RunOptions Full { get; } = new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));

    /// <summary>The test suite's runs: the same faults, shorter.</summary>
    public static RunOptions Short { get; } = new(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), Connections: 16);
}

/// <summary>One fault run: its figures (markdown) and every expectation it broke (empty: all held).</summary>
public sealed record ScenarioResult(string Name, string Markdown, IReadOnlyList<string> Violations);

/// <summary>
/// The three fault runs of issue 10 against real processes on loopback: the sample (its own OS process),
/// redis-server or a 6-node Redis Cluster, SQLite, and wrk for the load.
/// </summary>
public static partial class Scenarios
{
    private const string ItemRoute = "/products/{id:long}";
    private const string ListRoute = "/products/";
    private const string SessionRoute = "/me/";
    private const string LeaderboardRoute = "/games/{board}/leaderboard";
    private static readonly TimeSpan RecoveryBudget = TimeSpan.FromSeconds(2);

    private static string[] SampleArguments(string redis, string database, params string[] extra) =>
    [
        "--environment", "Production",
        "--ConnectionStrings:redis=" + redis,
        "--ConnectionStrings:shop=Data Source=" + database,
        "--Shop:ApiRequestsPerMinute=1000000000",
        "--Shop:ViewFlushIntervalMilliseconds=200",
        "--Shop:PaymentRequeueAfterSeconds=5",
        "--Logging:LogLevel:Default=Warning",
        "--Logging:LogLevel:RedisKit.Samples.Shop.Features.PaymentProcessor=Information",
        .. extra,
    ];

    /// <summary>
    /// redis-server (AOF, fsync every second) is stopped for <see cref="RunOptions.Fault"/> under load, then
    /// started again. Expected: cached reads keep answering 200, the session route answers 503 (never 500),
    /// the API limit fails open, no 5xx from 2 s after the restart, no payment and no queued view lost.
    /// </summary>
    public static async Task<ScenarioResult> RedisOutageAsync(RunOptions options, CancellationToken cancellationToken = default)
    {
        var directory = Directory.CreateTempSubdirectory("rediskit-reliability-outage-").FullName;
        var database = Path.Combine(directory, "shop.db");
        await using var redis = await RedisServerProcess.StartAsync(["--appendonly", "yes", "--appendfsync", "everysec"], cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var sample = await SampleProcess.StartAsync(Path.Combine(directory, "sample.log"), SampleArguments(redis.ConnectionString, database), cancellationToken).ConfigureAwait(false);
        using var client = new HttpClient { BaseAddress = sample.Address, Timeout = TimeSpan.FromSeconds(30) };
        await WaitReadyAsync(client, cancellationToken).ConfigureAwait(false);
        var total = options.Steady + options.Fault + options.After + TimeSpan.FromSeconds(1);
        var run = await LoadRun.StartAsync(sample, client, database, options, total, cancellationToken).ConfigureAwait(false);

        await Task.Delay(options.Steady, cancellationToken).ConfigureAwait(false);
        var atStop = await run.ScrapeAsync().ConfigureAwait(false);
        await redis.StopAsync().ConfigureAwait(false);
        var stoppedAt = run.Clock.Elapsed;
        await Task.Delay(options.Fault, cancellationToken).ConfigureAwait(false);
        var atRestart = await run.ScrapeAsync().ConfigureAwait(false);
        await redis.StartAgainAsync(cancellationToken).ConfigureAwait(false);
        var restartedAt = run.Clock.Elapsed;
        var recovery = MeasureRecoveryAsync(sample.Address, run.Sessions[0], cancellationToken);
        await Task.Delay(RecoveryBudget, cancellationToken).ConfigureAwait(false);
        var atBudget = await run.ScrapeAsync().ConfigureAwait(false);
        var (load, atEnd, traffic, drained) = await run.FinishAsync().ConfigureAwait(false);
        var recovered = await recovery.ConfigureAwait(false);
        var (start, ledgerBefore) = (run.Start, run.LedgerBefore);

        var phases = new (string Name, MetricsSnapshot Counts)[]
        {
            ($"before the stop ({Seconds(stoppedAt)})", atStop.Since(start)),
            ($"redis-server stopped ({Seconds(restartedAt - stoppedAt)}, incl. restart)", atRestart.Since(atStop)),
            ("first 2 s after the restart", atBudget.Since(atRestart)),
            ("from 2 s after the restart to the end", atEnd.Since(atBudget)),
        };

        var violations = PhaseViolations(phases);
        var outage = phases[1].Counts;
        Expect(violations, outage.Count(ItemRoute, s => s != 200) == 0, "outage: a cached item read did not answer 200");
        Expect(violations, outage.Count(ListRoute, s => s != 200) == 0, "outage: a cached list read did not answer 200");
        Expect(violations, outage.Count(SessionRoute, s => s is not (200 or 503)) == 0, "outage: the session route answered something other than 200 or 503");
        Expect(violations, outage.Count(SessionRoute, s => s == 503) > 0, "outage: the session route never answered 503 (was Redis stopped?)");
        Expect(violations, recovered.Session is { } s1 && s1 <= RecoveryBudget, $"the session route recovered in {Describe(recovered.Session)} (budget 2 s)");
        AddLedgerViolations(violations, traffic, drained, ledgerBefore, atEnd.Since(start));

        var markdown = new StringBuilder();
        markdown.AppendLine(CultureInfo.InvariantCulture, $"Load: wrk `-t2 -c{options.Connections}` with the read mix for {Seconds(total)}, plus {options.PaymentWorkers} clients creating and paying orders; redis-server stopped (SIGTERM) {Seconds(stoppedAt)} in, started again {Seconds(options.Fault)} later.");
        markdown.AppendLine();
        AppendPhases(markdown, phases);
        markdown.AppendLine();
        AppendLoad(markdown, load);
        markdown.AppendLine(CultureInfo.InvariantCulture, $"- Recovery after the restart: session route (`GET /me`) 200 again after **{Describe(recovered.Session)}**; `/health/ready` 200 after **{Describe(recovered.Ready)}**.");
        AppendLedger(markdown, traffic, drained, ledgerBefore, atEnd.Since(start));
        return Finish("Redis stopped for " + Seconds(options.Fault) + " under load", markdown, violations, directory);
    }

    /// <summary>
    /// A 6-node Redis Cluster under load; the primary that owns the payments stream's slot is SIGKILLed and its
    /// replica takes over. Errors are counted inside and outside the failover window; nothing may be lost.
    /// </summary>
    public static async Task<ScenarioResult> ClusterFailoverAsync(RunOptions options, CancellationToken cancellationToken = default)
    {
        var directory = Directory.CreateTempSubdirectory("rediskit-reliability-cluster-").FullName;
        var database = Path.Combine(directory, "shop.db");
        await using var cluster = await RedisClusterProcess.StartAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var sample = await SampleProcess.StartAsync(Path.Combine(directory, "sample.log"), SampleArguments(cluster.ConnectionString, database), cancellationToken).ConfigureAwait(false);
        using var client = new HttpClient { BaseAddress = sample.Address, Timeout = TimeSpan.FromSeconds(30) };
        await WaitReadyAsync(client, cancellationToken).ConfigureAwait(false);
        // The failover itself takes the node timeout (1.5 s) plus the election; the load covers it.
        var total = options.Steady + TimeSpan.FromSeconds(4) + options.After;
        var run = await LoadRun.StartAsync(sample, client, database, options, total, cancellationToken).ConfigureAwait(false);

        await Task.Delay(options.Steady, cancellationToken).ConfigureAwait(false);
        var atKill = await run.ScrapeAsync().ConfigureAwait(false);
        var killedAt = run.Clock.Elapsed;
        var killed = await cluster.KillPrimaryAsync("{payments}", cancellationToken).ConfigureAwait(false);
        var healthyAt = run.Clock.Elapsed;
        var atHealthy = await run.ScrapeAsync().ConfigureAwait(false);
        await Task.Delay(RecoveryBudget, cancellationToken).ConfigureAwait(false);
        var atBudget = await run.ScrapeAsync().ConfigureAwait(false);
        var (load, atEnd, traffic, drained) = await run.FinishAsync().ConfigureAwait(false);
        var (start, ledgerBefore) = (run.Start, run.LedgerBefore);

        var phases = new (string Name, MetricsSnapshot Counts)[]
        {
            ($"before the kill ({Seconds(killedAt)})", atKill.Since(start)),
            ($"failover window: kill → replica promoted, cluster_state ok ({Seconds(healthyAt - killedAt)})", atHealthy.Since(atKill)),
            ("first 2 s after the failover", atBudget.Since(atHealthy)),
            ("from 2 s after the failover to the end", atEnd.Since(atBudget)),
        };

        var violations = PhaseViolations(phases);
        AddLedgerViolations(violations, traffic, drained, ledgerBefore, atEnd.Since(start));

        var markdown = new StringBuilder();
        markdown.AppendLine(CultureInfo.InvariantCulture, $"Load: as above for {Seconds(total)}; the primary owning the slot of `{{payments}}` (port {killed.Port.ToString(CultureInfo.InvariantCulture)}) SIGKILLed {Seconds(killedAt)} in. Cluster: 3 primaries + 3 replicas, `cluster-node-timeout 1500`, no persistence (the replica holds the data).");
        markdown.AppendLine();
        AppendPhases(markdown, phases);
        markdown.AppendLine();
        AppendLoad(markdown, load);
        AppendLedger(markdown, traffic, drained, ledgerBefore, atEnd.Since(start));
        return Finish("Cluster primary killed under load", markdown, violations, directory);
    }

    /// <summary>
    /// The sample is SIGKILLed while payments are in flight (a simulated 200 ms gateway call keeps some
    /// between the fenced claim and the fenced commit) and started again. Its unacknowledged stream entries are
    /// claimed after 3 s; the dead holder's locks expire after 5 s. Every accepted payment must end charged,
    /// each charged once (one "charged" log line per payment across both lives of the process).
    /// </summary>
    public static async Task<ScenarioResult> SampleKillAsync(RunOptions options, CancellationToken cancellationToken = default)
    {
        var directory = Directory.CreateTempSubdirectory("rediskit-reliability-kill-").FullName;
        var database = Path.Combine(directory, "shop.db");
        var log = Path.Combine(directory, "sample.log");
        await using var redis = await RedisServerProcess.StartAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var sample = await SampleProcess.StartAsync(log, SampleArguments(redis.ConnectionString, database,
            "--Shop:PaymentGatewayLatencyMilliseconds=200",
            "--Shop:PaymentClaimIdleSeconds=3",
            "--Shop:PaymentLockExpirySeconds=5"), cancellationToken).ConfigureAwait(false);
        using var client = new HttpClient { BaseAddress = sample.Address, Timeout = TimeSpan.FromSeconds(30) };
        await WaitReadyAsync(client, cancellationToken).ConfigureAwait(false);
        var sessions = await ShopDriver.SignInAsync(sample.Address, 4, cancellationToken).ConfigureAwait(false);
        var ledgerBefore = await ShopDriver.ReadLedgerAsync(database, cancellationToken).ConfigureAwait(false);

        using var stopPayments = new CancellationTokenSource();
        var payments = ShopDriver.DrivePaymentsAsync([() => sample.IsRunning ? sample.Address : null], sessions, options.PaymentWorkers, stopPayments.Token);
        await Task.Delay(options.Steady, cancellationToken).ConfigureAwait(false);
        var pendingAtKill = await PendingEntriesAsync(redis).ConfigureAwait(false);
        await sample.KillAsync().ConfigureAwait(false);
        var ledgerAtKill = await ShopDriver.ReadLedgerAsync(database, cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        await sample.StartAgainAsync(cancellationToken).ConfigureAwait(false);
        var restartTook = clock.Elapsed;
        await Task.Delay(options.After, cancellationToken).ConfigureAwait(false);
        await stopPayments.CancelAsync().ConfigureAwait(false);
        var traffic = await payments.ConfigureAwait(false);
        var drained = await DrainAsync(database, ledgerBefore, viewsQueued: null, TimeSpan.FromSeconds(90), cancellationToken).ConfigureAwait(false);
        var pendingAfter = await PendingEntriesAsync(redis).ConfigureAwait(false);
        var dead = await redis.CliAsync("XLEN", "shop:stream:{payments}:dead").ConfigureAwait(false);
        var charges = ChargedLines().Matches(await File.ReadAllTextAsync(log, cancellationToken).ConfigureAwait(false))
            .GroupBy(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
            .ToDictionary(g => g.Key, g => g.Count());
        var staleRefusals = StaleLines().Matches(await File.ReadAllTextAsync(log, cancellationToken).ConfigureAwait(false)).Count;

        var violations = new List<string>();
        Expect(violations, pendingAtKill > 0, "no stream entry was pending when the process was killed (nothing was mid-stream)");
        Expect(violations, pendingAfter == 0, $"{pendingAfter} stream entries still pending after the drain");
        Expect(violations, dead.Trim() == "0", $"dead-lettered payment entries: {dead.Trim()}");
        Expect(violations, charges.Values.All(c => c == 1), "a payment was charged more than once: " + string.Join(", ", charges.Where(c => c.Value > 1).Select(c => c.Key)));
        AddLedgerViolations(violations, traffic, drained, ledgerBefore, views: null);

        var markdown = new StringBuilder();
        markdown.AppendLine(CultureInfo.InvariantCulture, $"{options.PaymentWorkers} clients create and pay orders; each charge takes a simulated 200 ms gateway call under the payment's lock, 4 charges at a time. {Seconds(options.Steady)} in, the sample is SIGKILLed and started again (ready after {Seconds(restartTook)}); the clients go on for {Seconds(options.After)}. Claim idle time 3 s, lock expiry 5 s.");
        markdown.AppendLine();
        markdown.AppendLine("| Figure | Value |");
        markdown.AppendLine("|---|---:|");
        markdown.AppendLine(CultureInfo.InvariantCulture, $"| Stream entries pending (delivered, not acknowledged) at the kill | {pendingAtKill} |");
        markdown.AppendLine(CultureInfo.InvariantCulture, $"| Payments pending in the database right after the kill | {ledgerAtKill.Pending - ledgerBefore.Pending} |");
        markdown.AppendLine(CultureInfo.InvariantCulture, $"| Payments claimed by more than one holder (attempts > 1) | {drained.Ledger.ClaimedMoreThanOnce - ledgerBefore.ClaimedMoreThanOnce} |");
        markdown.AppendLine(CultureInfo.InvariantCulture, $"| Fenced writes refused (stale token) | {staleRefusals} |");
        markdown.AppendLine(CultureInfo.InvariantCulture, $"| \"Charged\" log lines, both lives of the process | {charges.Values.Sum()} for {charges.Count} payments (max per payment: {(charges.Count == 0 ? 0 : charges.Values.Max())}) |");
        markdown.AppendLine(CultureInfo.InvariantCulture, $"| Stream entries pending after the drain / dead-lettered | {pendingAfter} / {dead.Trim()} |");
        AppendLedger(markdown, traffic, drained, ledgerBefore, views: null);
        return Finish("Sample SIGKILLed mid-stream", markdown, violations, directory);
    }

    /// <summary>
    /// Phases are: before the fault, the fault, the 2 s recovery budget, the rest. No phase may have a 5xx other
    /// than 503, and the first and last may have no 5xx at all.
    /// </summary>
    private static List<string> PhaseViolations((string Name, MetricsSnapshot Counts)[] phases)
    {
        var violations = new List<string>();
        foreach (var (name, counts) in phases)
        {
            Expect(violations, counts.WithStatus(s => s >= 500 && s != 503) == 0, $"{name}: a 5xx other than 503");
        }

        Expect(violations, phases[0].Counts.WithStatus(s => s >= 500) == 0, $"{phases[0].Name}: a 5xx");
        Expect(violations, phases[^1].Counts.WithStatus(s => s >= 500) == 0, $"{phases[^1].Name}: a 5xx (not recovered)");
        return violations;
    }

    /// <summary>The read load (wrk) and the payment clients of one run, with the figures taken before they started.</summary>
    private sealed class LoadRun
    {
        private readonly HttpClient _client;
        private readonly string _database;
        private readonly CancellationTokenSource _stopPayments = new();
        private readonly CancellationToken _cancellationToken;
        private Task<WrkResult> _wrk = null!;
        private Task<PaymentTraffic> _payments = null!;

        private LoadRun(HttpClient client, string database, IReadOnlyList<string> sessions, PaymentLedger ledgerBefore, MetricsSnapshot start, CancellationToken cancellationToken)
        {
            _client = client;
            _database = database;
            Sessions = sessions;
            LedgerBefore = ledgerBefore;
            Start = start;
            _cancellationToken = cancellationToken;
        }

        public IReadOnlyList<string> Sessions { get; }

        public PaymentLedger LedgerBefore { get; }

        public MetricsSnapshot Start { get; }

        public Stopwatch Clock { get; } = new();

        public static async Task<LoadRun> StartAsync(SampleProcess sample, HttpClient client, string database, RunOptions options, TimeSpan total, CancellationToken cancellationToken)
        {
            var sessions = await ShopDriver.SignInAsync(sample.Address, 6, cancellationToken).ConfigureAwait(false);
            var ledgerBefore = await ShopDriver.ReadLedgerAsync(database, cancellationToken).ConfigureAwait(false);
            var start = await MetricsSnapshot.ScrapeAsync(client, cancellationToken).ConfigureAwait(false);
            var run = new LoadRun(client, database, sessions, ledgerBefore, start, cancellationToken);
            run.Clock.Start();
            run._wrk = Wrk.RunAsync(sample.Address, total, sessions, connections: options.Connections, cancellationToken: cancellationToken);
            run._payments = ShopDriver.DrivePaymentsAsync([() => sample.Address], sessions, options.PaymentWorkers, run._stopPayments.Token);
            return run;
        }

        public Task<MetricsSnapshot> ScrapeAsync() => MetricsSnapshot.ScrapeAsync(_client, _cancellationToken);

        /// <summary>Waits for wrk to end, stops the payment clients, then waits until the queues have drained.</summary>
        public async Task<(WrkResult Load, MetricsSnapshot End, PaymentTraffic Traffic, Drained Drained)> FinishAsync()
        {
            var load = await _wrk.ConfigureAwait(false);
            var end = await ScrapeAsync().ConfigureAwait(false);
            await _stopPayments.CancelAsync().ConfigureAwait(false);
            var traffic = await _payments.ConfigureAwait(false);
            _stopPayments.Dispose();
            var drained = await DrainAsync(_database, LedgerBefore, end.Since(Start).ViewsQueued, TimeSpan.FromSeconds(60), _cancellationToken).ConfigureAwait(false);
            return (load, end, traffic, drained);
        }
    }

    private static async Task<long> PendingEntriesAsync(RedisServerProcess redis)
    {
        var output = await redis.CliAsync("XPENDING", "shop:stream:{payments}", "payment-workers").ConfigureAwait(false);
        var first = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim();
        return long.TryParse(first, CultureInfo.InvariantCulture, out var count) ? count : 0;
    }

    private static async Task WaitReadyAsync(HttpClient client, CancellationToken cancellationToken)
    {
        for (var i = 0; i < 300; i++)
        {
            using var response = await client.GetAsync(new Uri("health/ready", UriKind.Relative), cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException("The sample did not become ready.");
    }

    /// <summary>From now, polls every 20 ms until the session route and readiness answer 200 (up to 30 s each).</summary>
    private static async Task<(TimeSpan? Session, TimeSpan? Ready)> MeasureRecoveryAsync(Uri instance, string session, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var client = new HttpClient { BaseAddress = instance, Timeout = TimeSpan.FromSeconds(10) };
        async Task<TimeSpan?> FirstOkAsync(Func<HttpRequestMessage> request)
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                try
                {
                    using var message = request();
                    using var response = await client.SendAsync(message, cancellationToken).ConfigureAwait(false);
                    if (response.IsSuccessStatusCode)
                    {
                        return clock.Elapsed;
                    }
                }
                catch (HttpRequestException)
                {
                    // Count it as not recovered yet.
                }

                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }

            return null;
        }

        var sessionTask = FirstOkAsync(() =>
        {
            var message = new HttpRequestMessage(HttpMethod.Get, "me");
            message.Headers.TryAddWithoutValidation("Authorization", "Bearer " + session);
            return message;
        });
        var readyTask = FirstOkAsync(() => new HttpRequestMessage(HttpMethod.Get, "health/ready"));
        return (await sessionTask.ConfigureAwait(false), await readyTask.ConfigureAwait(false));
    }

    private sealed record Drained(PaymentLedger Ledger, TimeSpan Took, bool Complete);

    /// <summary>Waits until no payment is pending and (when given) every queued view reached the table.</summary>
    private static async Task<Drained> DrainAsync(string database, PaymentLedger before, long? viewsQueued, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var ledger = await ShopDriver.ReadLedgerAsync(database, cancellationToken).ConfigureAwait(false);
            var viewsDone = viewsQueued is null || ledger.ViewsInDatabase - before.ViewsInDatabase >= viewsQueued;
            if ((ledger.Pending == 0 && viewsDone) || clock.Elapsed > timeout)
            {
                return new Drained(ledger, clock.Elapsed, ledger.Pending == 0 && viewsDone);
            }

            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
        }
    }

    private static void AddLedgerViolations(List<string> violations, PaymentTraffic traffic, Drained drained, PaymentLedger before, MetricsSnapshot? views)
    {
        var accepted = traffic.Accepted.Distinct().ToList();
        var notCharged = accepted.Where(id => !drained.Ledger.Charged.Contains(id)).ToList();
        Expect(violations, accepted.Count > 0, "no payment was accepted during the run");
        Expect(violations, notCharged.Count == 0, $"{notCharged.Count} accepted payments not charged after the drain: {string.Join(", ", notCharged.Take(10))}");
        Expect(violations, drained.Ledger.Pending == 0, $"{drained.Ledger.Pending} payments still pending after {Seconds(drained.Took)}");
        Expect(violations, traffic.Where(k => k.Contains("→ 5", StringComparison.Ordinal) && !k.Contains("→ 503", StringComparison.Ordinal)) == 0, "a payment-flow request answered a 5xx other than 503");
        if (views is not null)
        {
            var counted = drained.Ledger.ViewsInDatabase - before.ViewsInDatabase;
            Expect(violations, counted >= views.ViewsQueued, $"views lost: {views.ViewsQueued} queued, {counted} reached the table");
        }
    }

    private static void AppendLedger(StringBuilder markdown, PaymentTraffic traffic, Drained drained, PaymentLedger before, MetricsSnapshot? views)
    {
        var accepted = traffic.Accepted.Distinct().ToList();
        var notCharged = accepted.Count(id => !drained.Ledger.Charged.Contains(id));
        markdown.AppendLine(CultureInfo.InvariantCulture, $"- Payment flow answers: {string.Join("; ", traffic.Answers.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key}: {a.Value}"))}.");
        markdown.AppendLine(CultureInfo.InvariantCulture, $"- Payments accepted (202): **{accepted.Count}**; charged after the drain ({Seconds(drained.Took)}): **{accepted.Count - notCharged}**; rows still pending: **{drained.Ledger.Pending}**; **lost: {notCharged}**. Payment rows created in the run: {drained.Ledger.Total - before.Total} ({string.Join(", ", drained.Ledger.ByStatus.Select(s => $"{s.Key} {s.Value - before.ByStatus.GetValueOrDefault(s.Key)}"))}).");
        if (views is not null)
        {
            var counted = drained.Ledger.ViewsInDatabase - before.ViewsInDatabase;
            markdown.AppendLine(CultureInfo.InvariantCulture, $"- Product views: {views.ViewsQueued} queued on the write-behind queue, {views.ViewsNotCounted} not counted (Redis unavailable; the page was served); **{counted}** reached `product_views`; **lost: {Math.Max(0, views.ViewsQueued - counted)}**{(counted > views.ViewsQueued ? $" ({counted - views.ViewsQueued} more than queued: the queue delivers at least once — a batch written to the table whose acknowledgement did not reach Redis is written again when its lease is reclaimed, and an enqueue whose reply was lost still counts)" : "")}.");
        }
    }

    private static void AppendPhases(StringBuilder markdown, (string Name, MetricsSnapshot Counts)[] phases)
    {
        markdown.AppendLine("Answers by phase, counted by the sample (`http.server.request.duration`), route → status: count.");
        markdown.AppendLine();
        markdown.AppendLine("| Phase | Requests | Cached item | Cached list | Session route `/me` | Leaderboard | Orders / payments | 5xx other than 503 |");
        markdown.AppendLine("|---|---:|---|---|---|---|---|---:|");
        foreach (var (name, counts) in phases)
        {
            markdown.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {counts.Total} | {Statuses(counts, ItemRoute)} | {Statuses(counts, ListRoute)} | {Statuses(counts, SessionRoute)} | {Statuses(counts, LeaderboardRoute)} | {Statuses(counts, "/orders/")} / {Statuses(counts, "/payments/")} | {counts.WithStatus(s => s >= 500 && s != 503)} |");
        }
    }

    private static string Statuses(MetricsSnapshot counts, string route)
    {
        var parts = counts.Requests.Where(r => r.Key.Route == route).OrderBy(r => r.Key.Status).Select(r => $"{r.Key.Status.ToString(CultureInfo.InvariantCulture)}: {r.Value.ToString(CultureInfo.InvariantCulture)}");
        var text = string.Join(", ", parts);
        return text.Length == 0 ? "–" : text;
    }

    private static void AppendLoad(StringBuilder markdown, WrkResult load) =>
        markdown.AppendLine(CultureInfo.InvariantCulture, $"- wrk: {load.Requests} requests ({load.RequestsPerSecond:F0}/s), non-2xx/3xx {load.Non2xx}, socket errors {load.SocketErrors} (timeouts {load.Timeouts}), latency p50 {load.P50Ms:F1} ms, p99 {load.P99Ms:F1} ms, max {load.MaxMs:F0} ms.");

    private static ScenarioResult Finish(string name, StringBuilder markdown, List<string> violations, string directory)
    {
        markdown.AppendLine(violations.Count == 0
            ? "- Expectations: **all held.**"
            : "- Expectations **not met**: " + string.Join("; ", violations) + $" (logs in {directory}).");
        if (violations.Count == 0)
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }

        return new ScenarioResult(name, markdown.ToString(), violations);
    }

    private static void Expect(List<string> violations, bool condition, string violation)
    {
        if (!condition)
        {
            violations.Add(violation);
        }
    }

    private static string Seconds(TimeSpan time) => time.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s";

    private static string Describe(TimeSpan? time) => time is { } t ? t.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture) + " ms" : "not within 30 s";

    [GeneratedRegex(@"Payment (\d+) charged with fencing token")]
    private static partial Regex ChargedLines();

    [GeneratedRegex(@"fenced update refused token")]
    private static partial Regex StaleLines();
}

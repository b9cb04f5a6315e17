using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace RedisKit.Benchmarks.Locking;

/// <summary>
/// Where the bytes of one uncontended acquire+release go: runs the benchmark's loop (one caller, 30 s expiry,
/// auto-extension on) and reports the bytes allocated per operation by the whole process (as BenchmarkDotNet's
/// memory diagnoser counts them) and, from the runtime's allocation-sampling events (one per ~100 KB allocated),
/// the share of each type. Run: <c>dotnet run -c Release -- lock-alloc-probe [operations]</c>.
/// </summary>
public static class LockAllocationProbe
{
    public static async Task<string> RunAsync(int operations, bool awaitRelease, int callers = 1)
    {
        using var multiplexer = BenchmarkServer.Connect();
        var services = new ServiceCollection();
        services.AddRedisKit(multiplexer, o => o.KeyPrefix = "probe").AddLocking(o =>
        {
            o.Expiry = TimeSpan.FromSeconds(30);
            o.AwaitRelease = awaitRelease;
        });
        await using var provider = services.BuildServiceProvider();
        var redisLock = provider.GetRequiredService<IRedisLockProvider>().CreateLock("probe-lock");
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(() => AcquireAndReleaseAsync(redisLock, 20_000 / callers))));

        using var listener = new AllocationListener();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(() => AcquireAndReleaseAsync(redisLock, operations / callers))));

        var perOperation = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)operations;
        BenchmarkServer.Stop();
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"{operations} acquire+release by {callers} caller(s) (AwaitRelease={awaitRelease}): {perOperation:F0} B per operation");
        var sampled = listener.Bytes.Values.Sum();
        foreach (var (type, bytes) in listener.Bytes.OrderByDescending(p => p.Value).Take(25))
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"{bytes / (double)sampled * perOperation,8:F0} B  {type}");
        }

        return report.ToString();
    }

    // The loop of the benchmark's uncontended methods: one async method doing many acquire+release in a row.
    private static async Task AcquireAndReleaseAsync(IRedisLock redisLock, int operations)
    {
        for (var i = 0; i < operations; i++)
        {
            await using var handle = await redisLock.AcquireAsync(TimeSpan.FromSeconds(30));
        }
    }

    private sealed class AllocationListener : EventListener
    {
        public ConcurrentDictionary<string, long> Bytes { get; } = new();

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName != "GCAllocationTick_V4" || e.Payload is null)
            {
                return;
            }

            var type = (string?)e.Payload[e.PayloadNames!.IndexOf("TypeName")] ?? "?";
            var amount = Convert.ToInt64(e.Payload[e.PayloadNames!.IndexOf("AllocationAmount64")], CultureInfo.InvariantCulture);
            Bytes.AddOrUpdate(type, amount, (_, total) => total + amount);
        }
    }
}

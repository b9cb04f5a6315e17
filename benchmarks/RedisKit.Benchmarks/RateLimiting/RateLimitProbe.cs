using System.Diagnostics;
using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace RedisKit.Benchmarks.RateLimiting;

/// <summary>
/// Where the time of a rate-limit check goes: runs each variant of <see cref="RateLimitingBenchmarks"/> for a few
/// rounds and prints, per check, the wall time, the client's CPU time, the server's CPU time (INFO cpu) and the
/// time the server spent inside the commands (INFO commandstats), plus how many checks shared one call.
/// <c>dotnet run -c Release -- ratelimit-probe [rounds]</c>.
/// </summary>
public static class RateLimitProbe
{
    public static async Task<string> RunAsync(int rounds, string? filter = null)
    {
        var bench = new RateLimitingBenchmarks();
        bench.Setup();
        var server = BenchmarkServer.Connect();
        var admin = server.GetServers()[0];
        var variants = new (string Name, Func<Task> Run)[]
        {
            (nameof(bench.HandWrittenEvalShaFixedWindow), bench.HandWrittenEvalShaFixedWindow),
            (nameof(bench.SeedIncrThenExpire), bench.SeedIncrThenExpire),
            (nameof(bench.RedisKitFixedWindow), bench.RedisKitFixedWindow),
            (nameof(bench.RedisKitFixedWindowNoCoalescing), bench.RedisKitFixedWindowNoCoalescing),
            (nameof(bench.SeedPipelinedSlidingLog), bench.SeedPipelinedSlidingLog),
            (nameof(bench.RedisKitSlidingWindowLog), bench.RedisKitSlidingWindowLog),
            (nameof(bench.RedisKitSlidingWindowLogNoCoalescing), bench.RedisKitSlidingWindowLogNoCoalescing),
            (nameof(bench.RedisKitSlidingWindowCounter), bench.RedisKitSlidingWindowCounter),
            (nameof(bench.RedisKitTokenBucket), bench.RedisKitTokenBucket),
            (nameof(bench.RedisKitGcra), bench.RedisKitGcra),
        };
        var report = new StringBuilder();
        report.AppendLine("| Variant | wall µs/check | client CPU µs/check | server CPU µs/check | in commands µs/check | checks/call | calls (command: calls, µs/call) |");
        report.AppendLine("|---|--:|--:|--:|--:|--:|---|");
        var process = Process.GetCurrentProcess();
        variants = [.. variants.Where(v => filter is null || v.Name.Contains(filter, StringComparison.OrdinalIgnoreCase))];
        foreach (var (_, run) in variants)
        {
            await run().ConfigureAwait(false); // JIT and first-window keys before any measurement
        }

        foreach (var (name, run) in variants)
        {
            await run().ConfigureAwait(false); // warm-up
            await run().ConfigureAwait(false);
            admin.ConfigResetStatistics();
            var serverCpu0 = ServerCpu(admin);
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            for (var r = 0; r < rounds; r++)
            {
                await run().ConfigureAwait(false);
            }

            wall.Stop();
            process.Refresh();
            var cpu = process.TotalProcessorTime - cpu0;
            var serverCpu = ServerCpu(admin) - serverCpu0;
            var stats = admin.Info("commandstats").SelectMany(g => g).ToList();
            double checks = rounds * RateLimitingBenchmarks.ChecksPerInvocation;
            long scriptCalls = 0;
            double usec = 0, scriptUsec = 0;
            var detail = new StringBuilder();
            foreach (var stat in stats)
            {
                var fields = stat.Value.Split(',').Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);
                var calls = long.Parse(fields["calls"], CultureInfo.InvariantCulture);
                var cmd = stat.Key.Replace("cmdstat_", "", StringComparison.Ordinal);
                if (cmd is "config" or "info")
                {
                    continue;
                }

                usec += double.Parse(fields["usec"], CultureInfo.InvariantCulture);
                if (cmd is "evalsha" or "eval")
                {
                    scriptCalls += calls;
                    scriptUsec += double.Parse(fields["usec"], CultureInfo.InvariantCulture);
                }

                detail.Append(CultureInfo.InvariantCulture, $"{cmd}: {calls}, {fields["usec_per_call"]}; ");
            }

            var perCall = scriptCalls > 0 ? checks / scriptCalls : 1;
            if (scriptCalls > 0)
            {
                usec = scriptUsec; // commands run by a script are counted inside its time too
            }
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} | {wall.Elapsed.TotalMicroseconds / checks:F2} | {cpu.TotalMicroseconds / checks:F2} | {serverCpu * 1e6 / checks:F2} | {usec / checks:F2} | {perCall:F1} | {detail} |");
        }

        bench.Cleanup();
        return report.ToString();
    }

    private static double ServerCpu(IServer admin)
    {
        var cpu = admin.Info("cpu").SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value);
        return double.Parse(cpu["used_cpu_user_main_thread"], CultureInfo.InvariantCulture) + double.Parse(cpu["used_cpu_sys_main_thread"], CultureInfo.InvariantCulture);
    }
}

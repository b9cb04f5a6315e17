using System.Text;

namespace RedisKit.Benchmarks.Caching;

/// <summary>
/// Not a timing benchmark: counts factory calls when 1000 callers miss the same key at once, in one
/// instance and spread over 3 instances sharing Redis. Run: <c>dotnet run -c Release -- stampede</c>.
/// </summary>
public static class StampedeReport
{
    private const int Callers = 1000;

    public static async Task<string> RunAsync()
    {
        var connection = BenchmarkServer.ConnectionString();
        var single = await Task.WhenAll(Enumerable.Range(0, 1).Select(_ => CachePeers.CreateAsync(connection)));
        var shared = "b" + Guid.NewGuid().ToString("N")[..8];
        var three = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => CachePeers.CreateAsync(connection, shared)));
        var rows = new StringBuilder();
        rows.AppendLine("| Library | 1 instance × 1000 callers | 3 instances × 333 callers (shared Redis) |");
        rows.AppendLine("|---|---:|---:|");
        rows.AppendLine($"| RedisKit | {await CountAsync(single, (p, k, f) => p.RedisKit.GetOrSetAsync(k, f).AsTask())} | {await CountAsync(three, (p, k, f) => p.RedisKit.GetOrSetAsync(k, f).AsTask())} |");
        rows.AppendLine($"| FusionCache 2.9 (no distributed locker) | {await CountAsync(single, (p, k, f) => p.Fusion.GetOrSetAsync<Product>(k, (_, ct) => f(ct)).AsTask())} | {await CountAsync(three, (p, k, f) => p.Fusion.GetOrSetAsync<Product>(k, (_, ct) => f(ct)).AsTask())} |");
        rows.AppendLine($"| HybridCache 10.0 | {await CountAsync(single, (p, k, f) => p.Hybrid.GetOrCreateAsync(k, ct => new ValueTask<Product>(f(ct))).AsTask())} | {await CountAsync(three, (p, k, f) => p.Hybrid.GetOrCreateAsync(k, ct => new ValueTask<Product>(f(ct))).AsTask())} |");
        foreach (var peers in single.Concat(three))
        {
            await peers.DisposeAsync();
        }

        BenchmarkServer.Stop();
        return rows.ToString();
    }

    private static async Task<int> CountAsync(CachePeers[] instances, Func<CachePeers, string, Func<CancellationToken, Task<Product>>, Task<Product>> call)
    {
        var calls = 0;
        var key = "stampede:" + Guid.NewGuid().ToString("N");
        async Task<Product> Factory(CancellationToken _)
        {
            Interlocked.Increment(ref calls);
            await Task.Delay(200);
            return CachePeers.Sample;
        }

        var perInstance = Callers / instances.Length;
        var start = new TaskCompletionSource();
        var all = instances.SelectMany(p => Enumerable.Range(0, perInstance).Select(async _ =>
        {
            await start.Task;
            return await call(p, key, Factory);
        })).ToArray();
        start.SetResult();
        await Task.WhenAll(all);
        return calls;
    }
}

using System.Diagnostics;
using System.Globalization;

namespace RedisKit.Testing;

/// <summary>
/// A real Redis Cluster on 127.0.0.1: <c>redis-server</c> processes in cluster mode (by default
/// 3 primaries and 3 replicas), joined with <c>redis-cli --cluster create</c>, ready once every node
/// reports <c>cluster_state:ok</c> and every replica has synced. A primary can be killed to force a
/// failover.
/// </summary>
public sealed class RedisClusterProcess : IAsyncDisposable
{
    private readonly List<RedisServerProcess> _nodes;

    private RedisClusterProcess(List<RedisServerProcess> nodes) => _nodes = nodes;

    /// <summary>Every node, primaries and replicas, in start order.</summary>
    public IReadOnlyList<RedisServerProcess> Nodes => _nodes;

    /// <summary>A StackExchange.Redis configuration string naming every node.</summary>
    public string ConnectionString =>
        string.Join(',', _nodes.Select(n => n.EndPoint)) + ",abortConnect=false,allowAdmin=true";

    /// <summary>
    /// Starts and joins the cluster (about 3-6 s on a small machine). A node whose port or cluster-bus
    /// port (port + 10000) is taken by another process meanwhile makes the attempt fail; it is retried
    /// with fresh ports, up to 3 attempts.
    /// </summary>
    public static async Task<RedisClusterProcess> StartAsync(int primaries = 3, int replicasPerPrimary = 1, CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(primaries, replicasPerPrimary, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt < 3 && ex is InvalidOperationException or TimeoutException)
            {
                // Ports raced with another process; try again with new ones.
            }
        }
    }

    private static async Task<RedisClusterProcess> StartOnceAsync(int primaries, int replicasPerPrimary, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(primaries, 3);
        var count = primaries * (1 + replicasPerPrimary);
        var arguments = new[]
        {
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "1500",
            "--cluster-replica-validity-factor", "0",
            "--repl-diskless-sync", "yes",
            "--repl-diskless-sync-delay", "0",
        };
        var starts = Enumerable.Range(0, count)
            .Select(_ => RedisServerProcess.StartAsync(arguments, RedisBinaries.FreeClusterPort(), cancellationToken))
            .ToArray();
        var nodes = new List<RedisServerProcess>();
        try
        {
            foreach (var start in starts)
            {
                nodes.Add(await start.ConfigureAwait(false));
            }

            var create = new List<string> { "--cluster", "create" };
            create.AddRange(nodes.Select(n => n.EndPoint));
            create.AddRange(["--cluster-replicas", replicasPerPrimary.ToString(CultureInfo.InvariantCulture), "--cluster-yes"]);
            await Cli.RunAsync(nodes[0].Port, create).ConfigureAwait(false);

            var cluster = new RedisClusterProcess(nodes);
            await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>The nodes that are primaries now.</summary>
    public async Task<IReadOnlyList<RedisServerProcess>> GetPrimariesAsync()
    {
        var primaries = new List<RedisServerProcess>();
        foreach (var node in _nodes.Where(n => n.IsRunning))
        {
            var role = await node.CliAsync("ROLE").ConfigureAwait(false);
            if (role.StartsWith("master", StringComparison.Ordinal))
            {
                primaries.Add(node);
            }
        }

        return primaries;
    }

    /// <summary>
    /// Kills (SIGKILL) the primary that owns <paramref name="slotOwnerKey"/> (or the first primary) and
    /// waits until its replica has taken over and the cluster is healthy again. Returns the killed node.
    /// </summary>
    public async Task<RedisServerProcess> KillPrimaryAsync(string? slotOwnerKey = null, CancellationToken cancellationToken = default)
    {
        RedisServerProcess victim;
        if (slotOwnerKey is not null)
        {
            var slot = (await _nodes.First(n => n.IsRunning).CliAsync("CLUSTER", "KEYSLOT", slotOwnerKey).ConfigureAwait(false)).Trim();
            victim = await FindSlotOwnerAsync(int.Parse(slot, CultureInfo.InvariantCulture)).ConfigureAwait(false);
        }
        else
        {
            victim = (await GetPrimariesAsync().ConfigureAwait(false))[0];
        }

        var primaries = (await GetPrimariesAsync().ConfigureAwait(false)).Count;
        await victim.KillAsync().ConfigureAwait(false);

        // Right after the kill every node still reports cluster_state:ok (the failure is detected only after
        // cluster-node-timeout), so first wait until a replica has been promoted in the victim's place.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((await GetPrimariesAsync().ConfigureAwait(false)).Count < primaries)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No replica took over from the primary on port {victim.Port} within 60 s.");
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        await WaitUntilHealthyAsync(TimeSpan.FromSeconds(60), cancellationToken, requireReplicas: false).ConfigureAwait(false);
        return victim;
    }

    private async Task<RedisServerProcess> FindSlotOwnerAsync(int slot)
    {
        foreach (var node in await GetPrimariesAsync().ConfigureAwait(false))
        {
            var nodes = await node.CliAsync("CLUSTER", "NODES").ConfigureAwait(false);
            var myself = nodes.Split('\n').First(l => l.Contains("myself", StringComparison.Ordinal));
            foreach (var range in myself.Split(' ').Skip(8))
            {
                var bounds = range.Split('-');
                if (bounds.Length is 1 or 2
                    && int.TryParse(bounds[0], CultureInfo.InvariantCulture, out var from)
                    && int.TryParse(bounds[^1], CultureInfo.InvariantCulture, out var to)
                    && slot >= from && slot <= to)
                {
                    return node;
                }
            }
        }

        throw new InvalidOperationException($"No primary owns slot {slot}.");
    }

    /// <summary>Waits until every running node reports <c>cluster_state:ok</c> (and, by default, every replica has synced).</summary>
    public async Task WaitUntilHealthyAsync(TimeSpan timeout, CancellationToken cancellationToken = default, bool requireReplicas = true)
    {
        var clock = Stopwatch.StartNew();
        string last = "";
        while (clock.Elapsed < timeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var healthy = true;
            foreach (var node in _nodes.Where(n => n.IsRunning))
            {
                var info = await node.CliAsync("CLUSTER", "INFO").ConfigureAwait(false);
                if (!info.Contains("cluster_state:ok", StringComparison.Ordinal))
                {
                    healthy = false;
                    last = $"{node.EndPoint}: not ok";
                    break;
                }

                if (requireReplicas)
                {
                    var replication = await node.CliAsync("INFO", "replication").ConfigureAwait(false);
                    if (replication.Contains("role:slave", StringComparison.Ordinal) && !replication.Contains("master_link_status:up", StringComparison.Ordinal))
                    {
                        healthy = false;
                        last = $"{node.EndPoint}: replica not synced";
                        break;
                    }
                }
            }

            if (healthy)
            {
                return;
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"The cluster did not become healthy within {timeout.TotalSeconds:F0} s ({last}).");
    }

    /// <summary>Kills every node and deletes their folders.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync().ConfigureAwait(false);
        }
    }
}

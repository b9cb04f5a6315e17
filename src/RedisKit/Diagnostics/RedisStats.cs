using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>Figures from one node's <c>INFO</c>.</summary>
/// <param name="EndPoint">The node.</param>
/// <param name="IsReplica">Whether the node is a replica.</param>
/// <param name="UsedMemoryBytes"><c>used_memory</c>.</param>
/// <param name="ConnectedClients"><c>connected_clients</c>.</param>
/// <param name="OpsPerSecond"><c>instantaneous_ops_per_sec</c>.</param>
/// <param name="KeyspaceHits"><c>keyspace_hits</c> since the server started.</param>
/// <param name="KeyspaceMisses"><c>keyspace_misses</c> since the server started.</param>
/// <param name="EvictedKeys"><c>evicted_keys</c> since the server started.</param>
/// <param name="Keys">Keys in all databases (from the keyspace section).</param>
public sealed record RedisNodeStats(
    string EndPoint,
    bool IsReplica,
    long UsedMemoryBytes,
    long ConnectedClients,
    long OpsPerSecond,
    long KeyspaceHits,
    long KeyspaceMisses,
    long EvictedKeys,
    long Keys)
{
    /// <summary>Hits / (hits + misses), or <see langword="null"/> before any lookup.</summary>
    public double? HitRate => KeyspaceHits + KeyspaceMisses == 0 ? null : (double)KeyspaceHits / (KeyspaceHits + KeyspaceMisses);
}

/// <summary>Figures of every node, plus totals.</summary>
/// <param name="Nodes">One entry per connected node.</param>
public sealed record RedisStatsSnapshot(IReadOnlyList<RedisNodeStats> Nodes)
{
    /// <summary>Memory used by all nodes.</summary>
    public long UsedMemoryBytes => Nodes.Sum(n => n.UsedMemoryBytes);

    /// <summary>Clients connected to all nodes.</summary>
    public long ConnectedClients => Nodes.Sum(n => n.ConnectedClients);

    /// <summary>Operations per second over all nodes.</summary>
    public long OpsPerSecond => Nodes.Sum(n => n.OpsPerSecond);

    /// <summary>Keys evicted on all nodes.</summary>
    public long EvictedKeys => Nodes.Sum(n => n.EvictedKeys);

    /// <summary>Keys on the primaries.</summary>
    public long Keys => Nodes.Where(n => !n.IsReplica).Sum(n => n.Keys);

    /// <summary>Server-wide keyspace hit rate over all nodes, or <see langword="null"/> before any lookup.</summary>
    public double? HitRate
    {
        get
        {
            var hits = Nodes.Sum(n => n.KeyspaceHits);
            var total = hits + Nodes.Sum(n => n.KeyspaceMisses);
            return total == 0 ? null : (double)hits / total;
        }
    }
}

/// <summary>Reads <c>INFO</c> from every connected node: one round trip per node, in parallel.</summary>
public sealed class RedisStats
{
    private readonly IRedisConnection _connection;

    /// <summary>Creates the reader.</summary>
    public RedisStats(IRedisConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
    }

    /// <summary>Reads every connected node. Nodes that are down are left out; with none connected the list is empty.</summary>
    public async Task<RedisStatsSnapshot> GetAsync(CancellationToken cancellationToken = default)
    {
        var multiplexer = await _connection.GetMultiplexerAsync(cancellationToken).ConfigureAwait(false);
        var servers = multiplexer.GetServers().Where(s => s.IsConnected).ToArray();
        var reads = servers.Select(ReadAsync).ToArray();
        var nodes = new List<RedisNodeStats>(reads.Length);
        foreach (var read in reads)
        {
            try
            {
                nodes.Add(await read.WaitAsync(cancellationToken).ConfigureAwait(false));
            }
            catch (RedisException)
            {
                // A node that failed mid-read is reported as absent rather than failing the whole snapshot.
            }
        }

        return new RedisStatsSnapshot(nodes);
    }

    private static async Task<RedisNodeStats> ReadAsync(IServer server)
    {
        var info = await server.InfoAsync().ConfigureAwait(false);
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        long keys = 0;
        foreach (var group in info)
        {
            foreach (var (name, value) in group)
            {
                fields[name] = value;
                if (group.Key.Equals("Keyspace", StringComparison.OrdinalIgnoreCase))
                {
                    keys += ParseKeyspace(value);
                }
            }
        }

        // The node's own answer decides the role: right after connecting, StackExchange.Redis may not
        // have learned which cluster nodes are replicas yet.
        var isReplica = fields.TryGetValue("role", out var role) ? role is "slave" or "replica" : server.IsReplica;
        return new RedisNodeStats(
            Format(server.EndPoint),
            isReplica,
            Long(fields, "used_memory"),
            Long(fields, "connected_clients"),
            Long(fields, "instantaneous_ops_per_sec"),
            Long(fields, "keyspace_hits"),
            Long(fields, "keyspace_misses"),
            Long(fields, "evicted_keys"),
            keys);
    }

    private static string Format(EndPoint endPoint) => endPoint.ToString() ?? "";

    private static long Long(Dictionary<string, string> fields, string name) =>
        fields.TryGetValue(name, out var value) && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : 0;

    // "keys=12,expires=3,avg_ttl=0"
    private static long ParseKeyspace(string value)
    {
        foreach (var part in value.Split(','))
        {
            if (part.StartsWith("keys=", StringComparison.Ordinal)
                && long.TryParse(part.AsSpan(5), NumberStyles.Integer, CultureInfo.InvariantCulture, out var keys))
            {
                return keys;
            }
        }

        return 0;
    }
}

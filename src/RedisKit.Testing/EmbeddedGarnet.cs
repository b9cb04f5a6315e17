using System.Globalization;
using Garnet;

namespace RedisKit.Testing;

/// <summary>
/// Microsoft Garnet running in this process on a free 127.0.0.1 port, with Lua enabled in transaction
/// mode (so scripts are atomic). Garnet 2.x has no streams, no keyspace notifications and no
/// standalone sharded pub/sub, and its ranked sorted-set reads are O(N): RedisKit's capability probe
/// reports all of that. Used by the sample when no <c>redis-server</c> is installed, and by tests.
/// </summary>
public sealed class EmbeddedGarnet : IDisposable
{
    private readonly GarnetServer _server;

    private EmbeddedGarnet(GarnetServer server, int port)
    {
        _server = server;
        Port = port;
    }

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary><c>127.0.0.1:{port}</c>.</summary>
    public string EndPoint => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>A StackExchange.Redis configuration string for this server.</summary>
    public string ConnectionString => $"{EndPoint},abortConnect=false";

    /// <summary>Starts Garnet; <paramref name="memory"/> caps its log memory (Garnet syntax, e.g. <c>256m</c>).</summary>
    public static EmbeddedGarnet Start(int? port = null, string memory = "256m")
    {
        var chosen = port ?? RedisBinaries.FreePort();
        string[] arguments =
        [
            "--bind", "127.0.0.1",
            "--port", chosen.ToString(CultureInfo.InvariantCulture),
            "--memory", memory,
            "--index", "16m",
            "--lua", "true",
            "--lua-transaction-mode", "true",
            "-q",
        ];
        var server = new GarnetServer(arguments);
        server.Start();
        return new EmbeddedGarnet(server, chosen);
    }

    /// <summary>Stops Garnet (it keeps everything in memory, so nothing is left behind).</summary>
    public void Dispose() => _server.Dispose();
}

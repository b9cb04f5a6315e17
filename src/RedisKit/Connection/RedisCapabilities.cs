namespace RedisKit;

/// <summary>Which server software answers.</summary>
public enum RedisEngine
{
    /// <summary>The server did not say what it is.</summary>
    Unknown,
    /// <summary>Redis (redis.io).</summary>
    Redis,
    /// <summary>Valkey, the Linux Foundation fork of Redis.</summary>
    Valkey,
    /// <summary>Microsoft Garnet.</summary>
    Garnet,
    /// <summary>Another RESP server (KeyDB, Dragonfly, …).</summary>
    Other,
}

/// <summary>How the servers are arranged.</summary>
public enum RedisTopology
{
    /// <summary>One primary (possibly with replicas) addressed directly.</summary>
    Standalone,
    /// <summary>Redis Cluster: keys are sharded over several primaries by hash slot.</summary>
    Cluster,
    /// <summary>A primary found through Sentinel.</summary>
    Sentinel,
}

/// <summary>Server features RedisKit capabilities may depend on.</summary>
[Flags]
public enum RedisFeatures
{
    /// <summary>No feature.</summary>
    None = 0,
    /// <summary>Streams (XADD, XREADGROUP, XAUTOCLAIM): Redis 6.2+.</summary>
    Streams = 1 << 0,
    /// <summary>Lua scripts that run atomically (EVAL/EVALSHA).</summary>
    AtomicLua = 1 << 1,
    /// <summary>Sharded pub/sub (SPUBLISH/SSUBSCRIBE): Redis 7.0+.</summary>
    ShardedPubSub = 1 << 2,
    /// <summary>GETEX: Redis 6.2+.</summary>
    GetEx = 1 << 3,
    /// <summary>ZADD with GT/LT: Redis 6.2+.</summary>
    ZAddGreaterLess = 1 << 4,
    /// <summary>ZRANK/ZREVRANK … WITHSCORE: Redis 7.2+.</summary>
    ZRankWithScore = 1 << 5,
    /// <summary>Keyspace notifications (they must still be enabled with <c>notify-keyspace-events</c>).</summary>
    KeyspaceNotifications = 1 << 6,
    /// <summary>Server-assisted client-side caching (CLIENT TRACKING): Redis 6.0+.</summary>
    ClientTracking = 1 << 7,
    /// <summary>Lua scripting at all (possibly not atomic, see <see cref="AtomicLua"/>).</summary>
    Lua = 1 << 8,
}

/// <summary>
/// What the connected server is and can do, found by one probe at connect. Capabilities call
/// <see cref="Require"/> at start so that a missing feature stops the application with a clear
/// message instead of failing on the first request.
/// </summary>
public sealed class RedisCapabilities
{
    /// <summary>Creates a capability description.</summary>
    public RedisCapabilities(RedisEngine engine, Version version, RedisTopology topology, RedisFeatures features)
    {
        ArgumentNullException.ThrowIfNull(version);
        Engine = engine;
        Version = version;
        Topology = topology;
        Features = features;
    }

    /// <summary>The server software.</summary>
    public RedisEngine Engine { get; }

    /// <summary>The server's own version (for Valkey its Valkey version, for Garnet its Garnet version).</summary>
    public Version Version { get; }

    /// <summary>Standalone, cluster or sentinel-managed.</summary>
    public RedisTopology Topology { get; }

    /// <summary>The features the server offers.</summary>
    public RedisFeatures Features { get; }

    /// <summary>Whether every feature in <paramref name="features"/> is available.</summary>
    public bool Has(RedisFeatures features) => (Features & features) == features;

    /// <summary>Throws <see cref="RedisKitCapabilityException"/> naming <paramref name="capability"/> and the missing features unless all are available.</summary>
    public void Require(RedisFeatures features, string capability)
    {
        var missing = features & ~Features;
        if (missing != RedisFeatures.None)
        {
            throw new RedisKitCapabilityException(capability, missing, this);
        }
    }

    /// <summary>Short human description, e.g. <c>Redis 7.0.15 (cluster)</c>.</summary>
    public override string ToString() => $"{Engine} {Version} ({Topology.ToString().ToLowerInvariant()})";

    /// <summary>What this server cannot do, in words, for the start-up log.</summary>
    public IReadOnlyList<string> DescribeLimitations()
    {
        var lines = new List<string>();
        foreach (var feature in Enum.GetValues<RedisFeatures>())
        {
            if (feature != RedisFeatures.None && !Has(feature))
            {
                lines.Add($"no {Describe(feature)}");
            }
        }

        if (Engine == RedisEngine.Garnet)
        {
            lines.Add("ZREVRANK and ranked ZRANGE are O(N) on Garnet: leaderboard ranks slow down with board size");
        }

        return lines;
    }

    internal static string Describe(RedisFeatures feature) => feature switch
    {
        RedisFeatures.Streams => "streams (XADD/XREADGROUP/XAUTOCLAIM)",
        RedisFeatures.AtomicLua => "atomic Lua scripts",
        RedisFeatures.ShardedPubSub => "sharded pub/sub (SPUBLISH)",
        RedisFeatures.GetEx => "GETEX",
        RedisFeatures.ZAddGreaterLess => "ZADD GT/LT",
        RedisFeatures.ZRankWithScore => "ZREVRANK WITHSCORE",
        RedisFeatures.KeyspaceNotifications => "keyspace notifications",
        RedisFeatures.ClientTracking => "CLIENT TRACKING",
        RedisFeatures.Lua => "Lua scripting",
        _ => feature.ToString(),
    };
}

/// <summary>A RedisKit capability needs a server feature the connected server lacks.</summary>
public sealed class RedisKitCapabilityException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public RedisKitCapabilityException(string capability, RedisFeatures missing, RedisCapabilities server)
        : base(BuildMessage(capability, missing, server))
    {
        Capability = capability;
        Missing = missing;
    }

    /// <summary>The RedisKit capability that cannot run.</summary>
    public string Capability { get; }

    /// <summary>The features it needs that the server lacks.</summary>
    public RedisFeatures Missing { get; }

    private static string BuildMessage(string capability, RedisFeatures missing, RedisCapabilities server)
    {
        var names = Enum.GetValues<RedisFeatures>()
            .Where(f => f != RedisFeatures.None && (missing & f) == f)
            .Select(RedisCapabilities.Describe);
        var hint = server.Engine == RedisEngine.Garnet && (missing & RedisFeatures.AtomicLua) != 0
            ? " Start Garnet with --lua-transaction-mode and set RedisKit:GarnetLuaTransactionMode=true, or use Redis."
            : " Use Redis 7.2 or later, or leave this capability out.";
        return $"RedisKit {capability} needs {string.Join(", ", names)}, which the connected server ({server}) does not provide.{hint}";
    }
}

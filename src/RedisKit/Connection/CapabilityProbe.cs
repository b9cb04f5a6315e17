using StackExchange.Redis;

namespace RedisKit;

/// <summary>Finds out what the server is (INFO server) and which commands it has (COMMAND INFO).</summary>
internal static class CapabilityProbe
{
    private static readonly string[] ProbedCommands = ["XAUTOCLAIM", "GETEX", "SPUBLISH", "EVALSHA", "CLIENT"];

    public static async Task<RedisCapabilities> ProbeAsync(IConnectionMultiplexer multiplexer, bool sentinelManaged, bool garnetLuaTransactionMode, RedisKey probeKey)
    {
        var server = PickServer(multiplexer);
        Dictionary<string, string> fields;
        try
        {
            var info = await server.InfoAsync("server").ConfigureAwait(false);
            fields = info.SelectMany(g => g).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase);
        }
        catch (RedisCommandException ex)
        {
            throw new InvalidOperationException(
                "RedisKit probes the server with INFO, which StackExchange.Redis allows only with allowAdmin=true; set it on the multiplexer you supply.", ex);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOPERM", StringComparison.Ordinal))
        {
            // An ACL that denies INFO (e.g. "+@all -@dangerous"): HELLO, a connection command every user may run,
            // names the server and its version.
            fields = await HelloAsync(server).ConfigureAwait(false);
        }

        var (engine, version) = IdentifyEngine(fields);
        var topology = server.ServerType == ServerType.Cluster ? RedisTopology.Cluster
            : sentinelManaged ? RedisTopology.Sentinel
            : RedisTopology.Standalone;

        var commands = await ProbeCommandsAsync(server).ConfigureAwait(false);
        var features = RedisFeatures.None;
        bool Has(string command) => commands is null ? true : commands.Contains(command);
        var redisLike = engine is RedisEngine.Redis or RedisEngine.Valkey;
        var redisVersion = engine == RedisEngine.Valkey ? new Version(7, 2) : version;

        if (Has("XAUTOCLAIM") && (engine != RedisEngine.Redis || redisVersion >= new Version(6, 2)) && engine != RedisEngine.Garnet)
        {
            features |= RedisFeatures.Streams;
        }

        if (Has("EVALSHA"))
        {
            features |= RedisFeatures.Lua;
            if (engine != RedisEngine.Garnet || garnetLuaTransactionMode)
            {
                features |= RedisFeatures.AtomicLua;
            }
        }

        // Garnet accepts SPUBLISH only when it runs as a cluster.
        if (Has("SPUBLISH") && (engine != RedisEngine.Garnet || topology == RedisTopology.Cluster) && (!redisLike || redisVersion >= new Version(7, 0)))
        {
            features |= RedisFeatures.ShardedPubSub;
        }

        if (Has("GETEX") && (!redisLike || redisVersion >= new Version(6, 2)))
        {
            features |= RedisFeatures.GetEx;
        }

        if (redisLike ? redisVersion >= new Version(6, 2) : engine == RedisEngine.Garnet)
        {
            features |= RedisFeatures.ZAddGreaterLess;
        }

        if (redisLike)
        {
            features |= RedisFeatures.KeyspaceNotifications;
            if (redisVersion >= new Version(6, 0))
            {
                features |= RedisFeatures.ClientTracking;
            }
        }

        // WITHSCORE arrived in 7.2 and is not advertised anywhere but the reply: ask for a rank on a
        // key that does not exist (a read, nothing is written) and see whether the syntax is accepted.
        if (await AcceptsRankWithScoreAsync(multiplexer, probeKey).ConfigureAwait(false))
        {
            features |= RedisFeatures.ZRankWithScore;
        }

        return new RedisCapabilities(engine, version, topology, features);
    }

    /// <summary>HELLO without a protocol version: the server's name, version and mode, in the INFO field names.</summary>
    private static async Task<Dictionary<string, string>> HelloAsync(IServer server)
    {
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var reply = await server.ExecuteAsync("HELLO").ConfigureAwait(false);
        if (reply.Resp2Type != ResultType.Array)
        {
            return fields;
        }

        var items = (RedisResult[])reply!;
        var hello = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            if (items[i + 1].Resp2Type is ResultType.BulkString or ResultType.SimpleString or ResultType.Integer)
            {
                hello[(string)items[i]!] = (string)items[i + 1]!;
            }
        }

        if (hello.TryGetValue("version", out var version))
        {
            var name = hello.GetValueOrDefault("server", "");
            fields[name.Equals("valkey", StringComparison.OrdinalIgnoreCase) ? "valkey_version" : "redis_version"] = version;
            fields["server_name"] = name;
            if (hello.TryGetValue("mode", out var mode))
            {
                fields["redis_mode"] = mode;
            }
        }

        return fields;
    }

    private static IServer PickServer(IConnectionMultiplexer multiplexer)
    {
        var servers = multiplexer.GetServers();
        return servers.FirstOrDefault(s => s.IsConnected && !s.IsReplica)
            ?? servers.FirstOrDefault(s => s.IsConnected)
            ?? throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, CommandFlags.None, "No Redis server is connected, so its capabilities cannot be probed.");
    }

    internal static (RedisEngine Engine, Version Version) IdentifyEngine(IReadOnlyDictionary<string, string> fields)
    {
        if (fields.TryGetValue("garnet_version", out var garnet))
        {
            return (RedisEngine.Garnet, ParseVersion(garnet));
        }

        if (fields.TryGetValue("valkey_version", out var valkey)
            || (fields.TryGetValue("server_name", out var name) && name.Equals("valkey", StringComparison.OrdinalIgnoreCase) && fields.TryGetValue("redis_version", out valkey)))
        {
            return (RedisEngine.Valkey, ParseVersion(valkey));
        }

        if (fields.TryGetValue("redis_version", out var redis))
        {
            // Garnet also answers redis_version (the protocol level it emulates) but names itself in server_name or garnet_version.
            if (fields.TryGetValue("server_name", out var serverName) && serverName.Contains("garnet", StringComparison.OrdinalIgnoreCase))
            {
                return (RedisEngine.Garnet, ParseVersion(redis));
            }

            return (fields.ContainsKey("redis_mode") ? RedisEngine.Redis : RedisEngine.Other, ParseVersion(redis));
        }

        return (RedisEngine.Unknown, new Version(0, 0));
    }

    private static Version ParseVersion(string value)
    {
        var digits = new string(value.TakeWhile(c => char.IsDigit(c) || c == '.').ToArray());
        return Version.TryParse(digits.Contains('.', StringComparison.Ordinal) ? digits : digits + ".0", out var version) ? version : new Version(0, 0);
    }

    private static async Task<HashSet<string>?> ProbeCommandsAsync(IServer server)
    {
        try
        {
            var args = new object[ProbedCommands.Length + 1];
            args[0] = "INFO";
            ProbedCommands.CopyTo(args, 1);
            var reply = await server.ExecuteAsync("COMMAND", args).ConfigureAwait(false);
            var found = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            if (reply.Resp2Type != ResultType.Array)
            {
                return null;
            }

            var items = (RedisResult[])reply!;
            for (var i = 0; i < items.Length && i < ProbedCommands.Length; i++)
            {
                if (!items[i].IsNull)
                {
                    found.Add(ProbedCommands[i]);
                }
            }

            return found;
        }
        catch (RedisServerException)
        {
            // COMMAND INFO not implemented: fall back to the version table alone.
            return null;
        }
    }

    private static async Task<bool> AcceptsRankWithScoreAsync(IConnectionMultiplexer multiplexer, RedisKey probeKey)
    {
        try
        {
            await multiplexer.GetDatabase().ExecuteAsync("ZREVRANK", probeKey, "m", "WITHSCORE").ConfigureAwait(false);
            return true;
        }
        catch (RedisServerException)
        {
            return false;
        }
    }
}

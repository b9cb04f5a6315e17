using System.Net;
using System.Net.Sockets;

namespace RedisKit.Testing;

/// <summary>Finds the Redis programs and free loopback ports.</summary>
public static class RedisBinaries
{
    /// <summary>Environment variable naming a folder that holds <c>redis-server</c> and <c>redis-cli</c>.</summary>
    public const string DirectoryVariable = "REDISKIT_REDIS_BIN";

    /// <summary>The full path of <c>redis-server</c>.</summary>
    /// <exception cref="RedisServerNotFoundException">It is not installed.</exception>
    public static string RedisServer => Find("redis-server") ?? throw new RedisServerNotFoundException("redis-server");

    /// <summary>The full path of <c>redis-cli</c>.</summary>
    /// <exception cref="RedisServerNotFoundException">It is not installed.</exception>
    public static string RedisCli => Find("redis-cli") ?? throw new RedisServerNotFoundException("redis-cli");

    /// <summary>Whether <c>redis-server</c> can be found.</summary>
    public static bool IsRedisServerAvailable => Find("redis-server") is not null;

    /// <summary>Looks for <paramref name="program"/> in <c>$REDISKIT_REDIS_BIN</c>, then on PATH.</summary>
    public static string? Find(string program)
    {
        var folders = new List<string>();
        if (Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } own)
        {
            folders.Add(own);
        }

        folders.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        folders.Add("/usr/bin");
        folders.Add("/usr/local/bin");
        foreach (var folder in folders)
        {
            var candidate = Path.Combine(folder, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A port <c>p</c> such that both <c>p</c> and <c>p + 10000</c> (the cluster bus) are free.</summary>
    public static int FreeClusterPort()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(20000, 55000);
            if (IsFree(port) && IsFree(port + 10000))
            {
                return port;
            }
        }

        throw new InvalidOperationException("No free port pair for a cluster node was found on 127.0.0.1.");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

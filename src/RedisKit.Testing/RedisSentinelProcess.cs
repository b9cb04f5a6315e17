namespace RedisKit.Testing;

/// <summary>
/// A real Sentinel deployment on 127.0.0.1: one primary, one replica and three sentinels (quorum 2)
/// monitoring it as <see cref="ServiceName"/>. Killing the primary makes the sentinels promote the
/// replica within a few seconds.
/// </summary>
public sealed class RedisSentinelProcess : IAsyncDisposable
{
    private RedisSentinelProcess(RedisServerProcess primary, RedisServerProcess replica, IReadOnlyList<RedisServerProcess> sentinels, string serviceName)
    {
        Primary = primary;
        Replica = replica;
        Sentinels = sentinels;
        ServiceName = serviceName;
    }

    /// <summary>The data node that starts as primary.</summary>
    public RedisServerProcess Primary { get; }

    /// <summary>The data node that starts as replica.</summary>
    public RedisServerProcess Replica { get; }

    /// <summary>The three sentinels.</summary>
    public IReadOnlyList<RedisServerProcess> Sentinels { get; }

    /// <summary>The monitored service name.</summary>
    public string ServiceName { get; }

    /// <summary>The sentinels as <c>host:port</c>, for <c>RedisKit:Sentinel:Endpoints</c>.</summary>
    public IReadOnlyList<string> SentinelEndpoints => Sentinels.Select(s => s.EndPoint).ToArray();

    /// <summary>Starts the deployment and waits until every sentinel knows the replica and the other sentinels.</summary>
    public static async Task<RedisSentinelProcess> StartAsync(string serviceName = "mymaster", CancellationToken cancellationToken = default)
    {
        var primary = await RedisServerProcess.StartAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var replica = await RedisServerProcess.StartAsync(["--replicaof", "127.0.0.1", primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)], cancellationToken: cancellationToken).ConfigureAwait(false);
        var sentinels = new List<RedisServerProcess>();
        for (var i = 0; i < 3; i++)
        {
            sentinels.Add(await RedisServerProcess.StartSentinelAsync(primary.Port, serviceName, cancellationToken: cancellationToken).ConfigureAwait(false));
        }

        var deployment = new RedisSentinelProcess(primary, replica, sentinels, serviceName);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var ready = true;
            foreach (var sentinel in sentinels)
            {
                var master = await sentinel.CliAsync("SENTINEL", "MASTER", serviceName).ConfigureAwait(false);
                var lines = master.Split('\n', StringSplitOptions.TrimEntries);
                var replicas = Value(lines, "num-slaves");
                var others = Value(lines, "num-other-sentinels");
                ready &= replicas == "1" && others == "2";
            }

            if (ready)
            {
                return deployment;
            }

            if (DateTime.UtcNow > deadline)
            {
                await deployment.DisposeAsync().ConfigureAwait(false);
                throw new TimeoutException("The sentinels did not discover the replica and each other within 30 s.");
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string? Value(string[] lines, string name)
    {
        var index = Array.IndexOf(lines, name);
        return index >= 0 && index + 1 < lines.Length ? lines[index + 1] : null;
    }

    /// <summary>Kills every process and deletes their folders.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var sentinel in Sentinels)
        {
            await sentinel.DisposeAsync().ConfigureAwait(false);
        }

        await Replica.DisposeAsync().ConfigureAwait(false);
        await Primary.DisposeAsync().ConfigureAwait(false);
    }
}

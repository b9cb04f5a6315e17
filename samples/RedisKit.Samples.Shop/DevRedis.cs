using RedisKit.Testing;

namespace RedisKit.Samples.Shop;

/// <summary>
/// Decides which Redis the sample uses: <c>ConnectionStrings:redis</c> when configured; otherwise a
/// private <c>redis-server</c> if one is installed; otherwise embedded Garnet. Says which at start.
/// </summary>
internal sealed class DevRedis : IAsyncDisposable
{
    private RedisServerProcess? _process;
    private EmbeddedGarnet? _garnet;

    public string ConnectionString { get; private set; } = "";

    public string Description { get; private set; } = "";

    public bool IsGarnet => _garnet is not null;

    public static async Task<DevRedis> ResolveAsync(IConfiguration configuration)
    {
        var dev = new DevRedis();
        var configured = configuration.GetConnectionString("redis") ?? configuration["RedisKit:ConnectionString"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            dev.ConnectionString = configured;
            dev.Description = "the Redis configured in ConnectionStrings:redis";
        }
        else if (RedisBinaries.IsRedisServerAvailable)
        {
            dev._process = await RedisServerProcess.StartAsync();
            dev.ConnectionString = dev._process.ConnectionString;
            dev.Description = $"a private redis-server on {dev._process.EndPoint} (no ConnectionStrings:redis configured)";
        }
        else
        {
            dev._garnet = EmbeddedGarnet.Start();
            dev.ConnectionString = dev._garnet.ConnectionString;
            dev.Description = $"embedded Garnet on {dev._garnet.EndPoint} (no ConnectionStrings:redis and no redis-server on PATH)";
        }

        return dev;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        _garnet?.Dispose();
    }
}

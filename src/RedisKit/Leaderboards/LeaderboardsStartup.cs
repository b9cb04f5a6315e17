using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RedisKit.Leaderboards;

/// <summary>Warns at start when the server is Garnet, where ranks cost O(N).</summary>
internal sealed class LeaderboardsStartup : IHostedService
{
    private readonly IRedisConnection _connection;
    private readonly ILogger<LeaderboardsStartup> _logger;

    public LeaderboardsStartup(IRedisConnection connection, ILogger<LeaderboardsStartup> logger)
    {
        _connection = connection;
        _logger = logger;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var capabilities = await _connection.GetCapabilitiesAsync(cancellationToken).ConfigureAwait(false);
            if (capabilities.Engine == RedisEngine.Garnet)
            {
                LeaderboardsLog.GarnetRanksAreLinear(_logger, capabilities.ToString());
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LeaderboardsLog.EngineCheckSkipped(_logger, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

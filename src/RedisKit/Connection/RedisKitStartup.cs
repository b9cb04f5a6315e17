using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// Connects and probes when the host starts, so the first request does not pay for it and the log says
/// at boot which server and features the application got. A server that is down does not stop the
/// host: capabilities degrade per their own policy and the connection keeps retrying.
/// </summary>
internal sealed partial class RedisKitStartup : IHostedService
{
    private readonly IRedisConnection _connection;
    private readonly ILogger<RedisKitStartup> _logger;
    private readonly IEnumerable<RedisFeatureRequirement> _requirements;

    public RedisKitStartup(IRedisConnection connection, ILogger<RedisKitStartup> logger, IEnumerable<RedisFeatureRequirement> requirements)
    {
        _connection = connection;
        _logger = logger;
        _requirements = requirements;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _connection.GetMultiplexerAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var capabilities = await _connection.GetCapabilitiesAsync(cancellationToken).ConfigureAwait(false);

            // A capability the server cannot support stops the host here, with its name and the missing feature.
            foreach (var requirement in _requirements)
            {
                capabilities.Require(requirement.Features, requirement.Capability);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogStartedWithoutRedis(_logger);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1020, Level = LogLevel.Warning, Message = "Started without reaching Redis; capabilities run in their degraded mode until it is back, and their server requirements are checked when it is")]
    private static partial void LogStartedWithoutRedis(ILogger logger);
}

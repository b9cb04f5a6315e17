using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RedisKit;

internal sealed partial class RedisConnection
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Connected to Redis as client {ClientName}")]
    private static partial void LogConnected(ILogger logger, string clientName);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Redis is not reachable yet (client {ClientName}); commands fail until it is, and the connection keeps retrying with backoff")]
    private static partial void LogStartedDisconnected(ILogger logger, string clientName);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Redis connection failed: {EndPoint} ({ConnectionType}): {FailureType}")]
    private static partial void LogConnectionFailed(ILogger logger, string endPoint, ConnectionType connectionType, ConnectionFailureType failureType, Exception? exception);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Redis connection restored: {EndPoint} ({ConnectionType})")]
    private static partial void LogConnectionRestored(ILogger logger, string endPoint, ConnectionType connectionType);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Redis server {EndPoint} reported: {Message}")]
    private static partial void LogServerError(ILogger logger, string endPoint, string message);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Debug, Message = "Redis server {EndPoint} replied {Message} (expected; RedisKit recovers from it)")]
    private static partial void LogExpectedServerReply(ILogger logger, string endPoint, string message);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Error, Message = "Redis client internal error at {EndPoint} in {Origin}")]
    private static partial void LogInternalError(ILogger logger, string endPoint, string? origin, Exception exception);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "Redis server: {Server}; features: {Features}")]
    private static partial void LogProbed(ILogger logger, string server, string features);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Warning, Message = "Redis server limitation: {Limitation}")]
    private static partial void LogLimitation(ILogger logger, string limitation);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Warning, Message = "Could not probe the Redis server's capabilities; will retry when the connection is restored")]
    private static partial void LogProbeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Redis connection closed")]
    private static partial void LogClosed(ILogger logger);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Warning, Message = "Redis connection did not close cleanly")]
    private static partial void LogCloseFailed(ILogger logger, Exception exception);
}

using Microsoft.Extensions.Logging;

namespace RedisKit;

internal sealed partial class StreamConsumer<T, THandler>
{
    [LoggerMessage(EventId = 6020, Level = LogLevel.Information, Message = "Stream consumer {Consumer} of group {Group} on {Stream} starting")]
    private static partial void LogStarting(ILogger logger, string stream, string group, string consumer);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Information, Message = "Created consumer group {Group} on {Stream}")]
    private static partial void LogGroupCreated(ILogger logger, string stream, string group);

    [LoggerMessage(EventId = 6022, Level = LogLevel.Information, Message = "Stream consumer {Consumer} of group {Group} on {Stream} replayed {Count} pending entries")]
    private static partial void LogReplayed(ILogger logger, string stream, string group, string consumer, int count);

    [LoggerMessage(EventId = 6023, Level = LogLevel.Information, Message = "Stream consumer {Consumer} of group {Group} on {Stream} claimed {Count} entries idle in other consumers")]
    private static partial void LogClaimed(ILogger logger, string stream, string group, string consumer, int count);

    [LoggerMessage(EventId = 6024, Level = LogLevel.Warning, Message = "Handler failed for entry {Id} of {Stream} (group {Group}), delivery {Deliveries} of {MaxDeliveries}; retrying after backoff")]
    private static partial void LogHandlerFailed(ILogger logger, string stream, string group, string id, int deliveries, int maxDeliveries, Exception exception);

    [LoggerMessage(EventId = 6025, Level = LogLevel.Error, Message = "Entry {Id} of {Stream} (group {Group}) failed {Deliveries} deliveries and was moved to the dead-letter stream")]
    private static partial void LogDeadLettered(ILogger logger, string stream, string group, string id, int deliveries, Exception exception);

    [LoggerMessage(EventId = 6026, Level = LogLevel.Error, Message = "Entry {Id} of {Stream} (group {Group}) was moved to the dead-letter stream without being handled: {Reason}")]
    private static partial void LogDeadLetteredUnhandled(ILogger logger, string stream, string group, string id, string reason);

    [LoggerMessage(EventId = 6027, Level = LogLevel.Warning, Message = "Entry {Id} of {Stream} could not be read as {MessageType}")]
    private static partial void LogInvalidEntry(ILogger logger, string stream, string id, string messageType, Exception exception);

    [LoggerMessage(EventId = 6028, Level = LogLevel.Warning, Message = "Stream consumer of group {Group} on {Stream} cannot reach Redis; retrying in {DelayMs} ms")]
    private static partial void LogReadFailed(ILogger logger, string stream, string group, double delayMs, Exception exception);

    [LoggerMessage(EventId = 6029, Level = LogLevel.Warning, Message = "Consumer group {Group} on {Stream} is missing (server restarted without data, or the stream was deleted); recreating it")]
    private static partial void LogGroupMissing(ILogger logger, string stream, string group);

    [LoggerMessage(EventId = 6030, Level = LogLevel.Information, Message = "Stream consumer {Consumer} of group {Group} on {Stream} stopped")]
    private static partial void LogStopped(ILogger logger, string stream, string group, string consumer);
}

using Microsoft.Extensions.Logging;

namespace RedisKit;

internal sealed partial class MessageBus
{
    [LoggerMessage(EventId = 6000, Level = LogLevel.Error, Message = "A pub/sub handler for {Channel} ({MessageType}) threw; the message is skipped and the subscription goes on")]
    private static partial void LogHandlerFailed(ILogger logger, string channel, string messageType, Exception exception);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "A message on {Channel} could not be read as {MessageType}; it is skipped")]
    private static partial void LogInvalidMessage(ILogger logger, string channel, string messageType, Exception exception);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "Unsubscribing from {Channel} failed at the server; the handler was removed locally")]
    private static partial void LogUnsubscribeFailed(ILogger logger, string channel, Exception exception);
}

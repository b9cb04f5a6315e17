namespace RedisKit.Samples.Shop.Infrastructure;

/// <summary>The sample's log events (EventIds 9000-9099).</summary>
internal static partial class ShopLog
{
    [LoggerMessage(9000, LogLevel.Information, "Shop uses {Redis}")]
    public static partial void RedisChosen(ILogger logger, string redis);

    [LoggerMessage(9001, LogLevel.Information, "Redis server: {Server}")]
    public static partial void RedisServer(ILogger logger, string server);

    [LoggerMessage(9002, LogLevel.Warning, "Redis limitation: {Limitation}")]
    public static partial void RedisLimitation(ILogger logger, string limitation);

    [LoggerMessage(9003, LogLevel.Information, "Database: {Provider} ({Where}); schema {Schema}; {Products} products, {Users} users")]
    public static partial void DatabaseReady(ILogger logger, string provider, string where, string schema, int products, int users);

    [LoggerMessage(9004, LogLevel.Information, "Demo account: {Username} / {Password} (role {Role})")]
    public static partial void DemoCredentials(ILogger logger, string username, string password, string role);

    [LoggerMessage(9005, LogLevel.Warning, "Redis could not be probed at start; the app starts anyway and /health/ready reports it")]
    public static partial void RedisProbeFailed(ILogger logger, Exception exception);


    [LoggerMessage(9010, LogLevel.Information, "Order {OrderId} event {EventType} published")]
    public static partial void OrderEventPublished(ILogger logger, long orderId, string eventType);

    [LoggerMessage(9011, LogLevel.Warning, "Order event {EventType} could not be published")]
    public static partial void OrderEventPublishFailed(ILogger logger, string eventType, Exception exception);

    [LoggerMessage(9012, LogLevel.Debug, "Event stream client connected ({Clients} connected)")]
    public static partial void EventStreamConnected(ILogger logger, long clients);

    [LoggerMessage(9013, LogLevel.Debug, "Event stream client left ({Clients} connected)")]
    public static partial void EventStreamDisconnected(ILogger logger, long clients);




    [LoggerMessage(9030, LogLevel.Debug, "Flushed {Products} product view counters ({Views} views)")]
    public static partial void ViewsFlushed(ILogger logger, int products, long views);

    [LoggerMessage(9031, LogLevel.Warning, "A product view could not be queued (Redis unavailable); the page was served anyway")]
    public static partial void ViewNotCounted(ILogger logger, Exception exception);

    [LoggerMessage(9032, LogLevel.Warning, "Cache invalidation after a database write failed (Redis unavailable); entries expire on their own")]
    public static partial void CacheInvalidationFailed(ILogger logger, Exception exception);



    [LoggerMessage(9050, LogLevel.Error, "Unhandled exception on {Method} {Path}")]
    public static partial void Unhandled(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(9051, LogLevel.Warning, "Redis unavailable on {Method} {Path}; answered 503")]
    public static partial void RedisUnavailable(ILogger logger, string method, string path, Exception exception);
}

namespace RedisKit.Testing;

/// <summary>
/// RedisKit connection settings for tests that stop the real server (compiled into each test project). Timeouts are
/// generous, so that a call made while Redis is up does not time out on a cold, loaded 2-core machine (JIT, first
/// connection, script loads); fail-fast makes a call made while the server is stopped fail at once instead of waiting
/// in the backlog; reconnects are quick, so recovery after a restart is seen within a second.
/// </summary>
internal static class OutageReadyOptions
{
    public static void Apply(RedisKitOptions options)
    {
        options.ConnectTimeout = TimeSpan.FromSeconds(5);
        options.CommandTimeout = TimeSpan.FromSeconds(5);
        options.FailFastWhenDisconnected = true;
        options.ReconnectBaseDelay = TimeSpan.FromMilliseconds(50);
        options.ReconnectMaxDelay = TimeSpan.FromMilliseconds(500);
    }
}

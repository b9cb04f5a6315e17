namespace RedisKit.Testing;

/// <summary>Waits for a condition that becomes true asynchronously (a backplane message, a failover, a restart).</summary>
public static class Eventually
{
    /// <summary>
    /// Runs <paramref name="action"/> until it returns without throwing, retrying every
    /// <paramref name="interval"/> (50 ms by default); after <paramref name="within"/> the last exception propagates.
    /// </summary>
    public static async Task<T> SucceedsAsync<T>(Func<Task<T>> action, TimeSpan within, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(action);
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            try
            {
                return await action().ConfigureAwait(false);
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(interval ?? TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
            }
        }
    }
}

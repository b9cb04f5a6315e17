namespace RedisKit.AspNetCore.Tests;

public static class TestHost
{
    /// <summary>Retries <paramref name="action"/> until it succeeds or <paramref name="within"/> passes.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> action, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            try
            {
                return await action();
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }
}

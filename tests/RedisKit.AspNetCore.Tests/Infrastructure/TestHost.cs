namespace RedisKit.AspNetCore.Tests;

public static class TestHost
{
    /// <summary>Retries <paramref name="action"/> until it succeeds or <paramref name="within"/> passes.</summary>
    public static Task<T> EventuallyAsync<T>(Func<Task<T>> action, TimeSpan within) => RedisKit.Testing.Eventually.SucceedsAsync(action, within);
}

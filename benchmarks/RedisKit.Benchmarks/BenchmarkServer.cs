using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Benchmarks;

/// <summary>
/// The redis-server a benchmark talks to: <c>REDISKIT_BENCH_REDIS</c> if set, else a private
/// redis-server started for the run. One per benchmark process (BenchmarkDotNet runs each benchmark
/// class in its own process).
/// </summary>
public static class BenchmarkServer
{
    private static RedisServerProcess? _process;

    public static string ConnectionString()
    {
        if (Environment.GetEnvironmentVariable("REDISKIT_BENCH_REDIS") is { Length: > 0 } configured)
        {
            return configured;
        }

        _process ??= RedisServerProcess.StartAsync().GetAwaiter().GetResult();
        return _process.ConnectionString;
    }

    public static ConnectionMultiplexer Connect() => ConnectionMultiplexer.Connect(ConnectionString());

    public static void Stop()
    {
        _process?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _process = null;
    }
}

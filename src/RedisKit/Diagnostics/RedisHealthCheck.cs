using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>Thresholds for <see cref="RedisHealthCheck"/>.</summary>
public sealed class RedisHealthCheckOptions
{
    /// <summary>A PING slower than this reports Degraded.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan DegradedThreshold { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A PING that takes longer than this (or fails) reports Unhealthy.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// PINGs every connected primary (one round trip each, in parallel): Healthy with the slowest
/// latency, Degraded above <see cref="RedisHealthCheckOptions.DegradedThreshold"/>, Unhealthy when
/// the multiplexer has no connection, a PING fails, or it exceeds the timeout.
/// </summary>
public sealed class RedisHealthCheck : IHealthCheck
{
    private readonly IRedisConnection _connection;
    private readonly RedisHealthCheckOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates the check.</summary>
    public RedisHealthCheck(IRedisConnection connection, IOptions<RedisHealthCheckOptions> options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        _connection = connection;
        _options = options.Value;
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var multiplexer = await _connection.GetMultiplexerAsync(cancellationToken).ConfigureAwait(false);
            var primaries = multiplexer.GetServers().Where(s => !s.IsReplica).ToArray();
            if (!multiplexer.IsConnected || primaries.Length == 0 || primaries.Any(s => !s.IsConnected))
            {
                return HealthCheckResult.Unhealthy("Redis is not connected.", data: Data(TimeSpan.Zero, primaries.Length));
            }

            var started = _time.GetTimestamp();
            var pings = primaries.Select(s => s.PingAsync()).ToArray();
            await Task.WhenAll(pings).WaitAsync(_options.Timeout, _time, cancellationToken).ConfigureAwait(false);
            var slowest = pings.Max(p => p.Result);
            var elapsed = _time.GetElapsedTime(started);
            var latency = slowest > elapsed ? slowest : elapsed;
            var data = Data(latency, primaries.Length);
            return latency > _options.DegradedThreshold
                ? HealthCheckResult.Degraded($"Redis answered PING in {latency.TotalMilliseconds:F1} ms (threshold {_options.DegradedThreshold.TotalMilliseconds:F0} ms).", data: data)
                : HealthCheckResult.Healthy($"Redis answered PING in {latency.TotalMilliseconds:F1} ms.", data);
        }
        catch (TimeoutException ex)
        {
            return HealthCheckResult.Unhealthy($"Redis did not answer PING within {_options.Timeout.TotalMilliseconds:F0} ms.", ex);
        }
        catch (RedisException ex)
        {
            return HealthCheckResult.Unhealthy("Redis PING failed.", ex);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("Redis PING was cancelled.");
        }
    }

    private static Dictionary<string, object> Data(TimeSpan latency, int primaries) => new()
    {
        ["latency_seconds"] = latency.TotalSeconds,
        ["primaries"] = primaries,
    };
}

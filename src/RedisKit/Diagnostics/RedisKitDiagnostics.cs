using System.Diagnostics;

namespace RedisKit;

/// <summary>
/// Names to subscribe to: one <see cref="System.Diagnostics.Metrics.Meter"/> and one
/// <see cref="ActivitySource"/>, both called <c>RedisKit</c>. Instrument names are snake_case,
/// durations are in seconds, and no tag ever carries a key.
/// </summary>
public static class RedisKitDiagnostics
{
    /// <summary>The meter every RedisKit instrument belongs to (<c>AddMeter("RedisKit")</c>).</summary>
    public const string MeterName = "RedisKit";

    /// <summary>The activity source for RedisKit spans (<c>AddSource("RedisKit")</c>).</summary>
    public const string ActivitySourceName = "RedisKit";

    /// <summary>Counter: scripts re-sent with EVAL after a server answered NOSCRIPT.</summary>
    public const string ScriptReloads = "rediskit.script.reloads";

    internal static readonly ActivitySource ActivitySource = new(ActivitySourceName, typeof(RedisKitDiagnostics).Assembly.GetName().Version?.ToString());
}

using System.Diagnostics.Metrics;

namespace RedisKit.RateLimiting;

/// <summary>Names of the rate-limiting instruments on the <c>RedisKit</c> meter. Tags never carry a partition or key.</summary>
public static class RedisRateLimitingInstruments
{
    /// <summary>Counter of decisions; tags <c>policy</c> (deciding policy), <c>result</c> (<c>allowed</c>/<c>denied</c>), <c>source</c> (<c>redis</c>/<c>failure_mode</c>).</summary>
    public const string Decisions = "rediskit.ratelimit.decisions";

    /// <summary>Counter of policy evaluations that Redis could not serve; tags <c>policy</c>, <c>failure_mode</c> (<c>fail_open</c>/<c>fail_closed</c>/<c>local_fallback</c>).</summary>
    public const string RedisFailures = "rediskit.ratelimit.redis_failures";

    /// <summary>Histogram of check durations in seconds (the round trip, or the failure path); tag <c>result</c>.</summary>
    public const string CheckDuration = "rediskit.ratelimit.check.duration";

    /// <summary>Counter of concurrency leases found reclaimed by their own heartbeat (the holder was presumed dead).</summary>
    public const string LeasesLost = "rediskit.ratelimit.leases.lost";

    /// <summary>Up-down counter of concurrency leases held by this process.</summary>
    public const string LeasesActive = "rediskit.ratelimit.leases.active";
}

internal sealed class RateLimitingMetrics
{
    private readonly Counter<long> _decisions;
    private readonly Counter<long> _failures;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _leasesLost;
    private readonly UpDownCounter<long> _leasesActive;

    public RateLimitingMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(RedisKitDiagnostics.MeterName);
        _decisions = meter.CreateCounter<long>(RedisRateLimitingInstruments.Decisions, "{decision}", "Rate limit decisions.");
        _failures = meter.CreateCounter<long>(RedisRateLimitingInstruments.RedisFailures, "{evaluation}", "Policy evaluations Redis could not serve; the policy's failure mode decided.");
        _duration = meter.CreateHistogram<double>(RedisRateLimitingInstruments.CheckDuration, "s", "Duration of rate limit checks.");
        _leasesLost = meter.CreateCounter<long>(RedisRateLimitingInstruments.LeasesLost, "{lease}", "Concurrency leases reclaimed while their holder still had them.");
        _leasesActive = meter.CreateUpDownCounter<long>(RedisRateLimitingInstruments.LeasesActive, "{lease}", "Concurrency leases held by this process.");
    }

    /// <summary>Counts a decision and records the time since <paramref name="startedTimestamp"/> (<see cref="System.Diagnostics.Stopwatch"/> ticks).</summary>
    public void Decision(RateLimitDecision decision, long startedTimestamp)
    {
        var result = decision.IsAllowed ? "allowed" : "denied";
        if (_decisions.Enabled)
        {
            _decisions.Add(1,
                new KeyValuePair<string, object?>("policy", decision.Deciding.Policy.Name),
                new KeyValuePair<string, object?>("result", result),
                new KeyValuePair<string, object?>("source", decision.Source == RateLimitDecisionSource.Redis ? "redis" : "failure_mode"));
        }

        if (_duration.Enabled)
        {
            _duration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, new KeyValuePair<string, object?>("result", result));
        }
    }

    public void Failure(RateLimitPolicy policy)
    {
        if (_failures.Enabled)
        {
            _failures.Add(1,
                new KeyValuePair<string, object?>("policy", policy.Name),
                new KeyValuePair<string, object?>("failure_mode", policy.FailureMode switch
                {
                    RateLimitFailureMode.FailClosed => "fail_closed",
                    RateLimitFailureMode.LocalFallback => "local_fallback",
                    _ => "fail_open",
                }));
        }
    }

    public void LeaseLost() => _leasesLost.Add(1);

    public void LeaseActive(long delta) => _leasesActive.Add(delta);
}

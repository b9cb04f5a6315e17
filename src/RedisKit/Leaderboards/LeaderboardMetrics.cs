using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RedisKit.Leaderboards;

/// <summary>Names of the leaderboard instruments (meter <c>RedisKit</c>).</summary>
public static class LeaderboardMetrics
{
    /// <summary>
    /// Histogram, seconds: duration of each leaderboard call, tagged <c>operation</c> (set, increment,
    /// remove, score, rank, top, page, around, count, score_range, percentile, rank_members, merge, clear)
    /// and <c>outcome</c> (<c>success</c> or <c>error</c>).
    /// </summary>
    public const string OperationDuration = "rediskit.leaderboard.operation.duration";

    /// <summary>Counter: score writes, tagged <c>changed</c> (<c>true</c> when the all-time score changed).</summary>
    public const string ScoreWrites = "rediskit.leaderboard.score.writes";
}

/// <summary>The leaderboard instruments.</summary>
internal sealed class LeaderboardInstruments
{
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _writes;

    public LeaderboardInstruments(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(RedisKitDiagnostics.MeterName);
        _duration = meter.CreateHistogram<double>(LeaderboardMetrics.OperationDuration, unit: "s", description: "Duration of leaderboard calls.");
        _writes = meter.CreateCounter<long>(LeaderboardMetrics.ScoreWrites, unit: "{write}", description: "Leaderboard score writes.");
    }

    public void Record(string operation, long startTimestamp, bool success)
    {
        if (_duration.Enabled)
        {
            _duration.Record(
                Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds,
                new KeyValuePair<string, object?>("operation", operation),
                new KeyValuePair<string, object?>("outcome", success ? "success" : "error"));
        }
    }

    public void Written(bool changed)
    {
        if (_writes.Enabled)
        {
            _writes.Add(1, new KeyValuePair<string, object?>("changed", changed));
        }
    }
}

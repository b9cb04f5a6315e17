using Microsoft.Extensions.Logging;

namespace RedisKit.Leaderboards;

/// <summary>What every board of one application shares.</summary>
internal sealed class LeaderboardContext
{
    public const string Capability = "lb";

    public static readonly RedisScript WriteScript = RedisScript.FromResource("leaderboards-write");
    public static readonly RedisScript RankScript = RedisScript.FromResources("leaderboards-rank", "leaderboards-ties", "leaderboards-rank");
    public static readonly RedisScript RangeScript = RedisScript.FromResources("leaderboards-range", "leaderboards-ties", "leaderboards-range");
    public static readonly RedisScript PercentileScript = RedisScript.FromResource("leaderboards-percentile");
    public static readonly RedisScript RemoveScript = RedisScript.FromResource("leaderboards-remove");
    public static readonly RedisScript MergeScript = RedisScript.FromResource("leaderboards-merge");

    public LeaderboardContext(IRedisConnection connection, LeaderboardsOptions options, LeaderboardInstruments instruments, ILogger logger, TimeProvider time)
    {
        Connection = connection;
        Options = options;
        Instruments = instruments;
        Logger = logger;
        Time = time;
    }

    public IRedisConnection Connection { get; }

    public LeaderboardsOptions Options { get; }

    public LeaderboardInstruments Instruments { get; }

    public ILogger Logger { get; }

    public TimeProvider Time { get; }
}

/// <summary>A board's resolved settings.</summary>
internal sealed record LeaderboardSpec(string Name, string Group, LeaderboardRanking Ranking, LeaderboardWindows Windows, CompositeScore? Composite)
{
    /// <summary>The ranking code the scripts take.</summary>
    public string RankingCode => Ranking switch
    {
        LeaderboardRanking.StandardCompetition => "c",
        LeaderboardRanking.Dense => "d",
        _ => "o",
    };

    /// <summary>The factor the scripts take: 1 for plain boards, 2^bits for composite ones.</summary>
    public double Factor => Composite?.Factor ?? 1;
}

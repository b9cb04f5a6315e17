namespace RedisKit.Leaderboards;

/// <summary>How members with equal scores are ranked.</summary>
public enum LeaderboardRanking
{
    /// <summary>
    /// Every member gets its own rank (1, 2, 3, 4) in Redis order: equal scores are ordered by member
    /// reverse-lexicographically (byte-wise), because ranks come from <c>ZREVRANK</c>/<c>ZREVRANGE</c>,
    /// which reverse Redis's ascending order of (score, member). So among equal scores <c>"bob"</c>
    /// ranks before <c>"alice"</c>.
    /// </summary>
    Ordinal,

    /// <summary>Standard competition ranking ("1224"): equal scores share a rank and the next rank skips.</summary>
    StandardCompetition,

    /// <summary>Dense ranking ("1223"): equal scores share a rank and the next rank does not skip.</summary>
    Dense,
}

/// <summary>Which period boards a leaderboard keeps besides its all-time board.</summary>
[Flags]
public enum LeaderboardWindows
{
    /// <summary>Only the all-time board.</summary>
    None = 0,

    /// <summary>One board per UTC day.</summary>
    Daily = 1 << 0,

    /// <summary>One board per ISO-8601 week (Monday to Sunday, UTC).</summary>
    Weekly = 1 << 1,

    /// <summary>One board per UTC calendar month.</summary>
    Monthly = 1 << 2,
}

/// <summary>A board's period.</summary>
public enum LeaderboardPeriod
{
    /// <summary>The all-time board.</summary>
    AllTime,

    /// <summary>A UTC day.</summary>
    Daily,

    /// <summary>An ISO-8601 week (UTC).</summary>
    Weekly,

    /// <summary>A UTC calendar month.</summary>
    Monthly,
}

/// <summary>When a new score replaces the stored one.</summary>
public enum ScoreUpdate
{
    /// <summary>Always.</summary>
    Always,

    /// <summary>Only when the new score is higher (or the member is new): "best score".</summary>
    OnlyIfHigher,

    /// <summary>Only when the new score is lower (or the member is new).</summary>
    OnlyIfLower,
}

/// <summary>How scores of a member present in several merged boards are combined.</summary>
public enum LeaderboardAggregate
{
    /// <summary>The sum (not allowed for earlier-achiever boards: it would break the composite score).</summary>
    Sum,

    /// <summary>The lowest.</summary>
    Min,

    /// <summary>The highest.</summary>
    Max,
}

/// <summary>One member's place on a board.</summary>
/// <param name="Member">The member id.</param>
/// <param name="Score">The score (for earlier-achiever boards, the score without the time part).</param>
/// <param name="Rank">The 1-based rank under the board's <see cref="LeaderboardRanking"/>, highest score first.</param>
public sealed record LeaderboardEntry(string Member, double Score, long Rank);

/// <summary>
/// One board's settings. Unset (null) settings take the defaults from <see cref="LeaderboardsOptions"/>.
/// </summary>
public sealed class LeaderboardDefinition
{
    /// <summary>Creates a definition for the board <paramref name="name"/>.</summary>
    public LeaderboardDefinition(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
    }

    /// <summary>The board's name (part of its keys).</summary>
    public string Name { get; }

    /// <summary>
    /// The hash-tag group: boards of one group live in one cluster slot, so they can be merged on a
    /// cluster. Defaults to the board's name.
    /// </summary>
    public string? Group { get; init; }

    /// <summary>Tie ranking; default <see cref="LeaderboardsOptions.Ranking"/>.</summary>
    public LeaderboardRanking? Ranking { get; init; }

    /// <summary>Period boards kept besides the all-time board; default <see cref="LeaderboardsOptions.Windows"/>.</summary>
    public LeaderboardWindows? Windows { get; init; }

    /// <summary>
    /// Whether equal scores are ordered by who reached them first (composite score); default
    /// <see cref="LeaderboardsOptions.EarlierAchieverWins"/>.
    /// </summary>
    public bool? EarlierAchieverWins { get; init; }
}

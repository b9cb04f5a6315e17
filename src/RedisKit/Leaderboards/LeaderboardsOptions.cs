using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RedisKit.Leaderboards;

/// <summary>
/// Leaderboard defaults and limits, bound from <c>RedisKit:Leaderboards</c> and validated at start.
/// Per-board settings in <see cref="LeaderboardDefinition"/> override the defaults.
/// </summary>
public sealed class LeaderboardsOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "RedisKit:Leaderboards";

    /// <summary>Default tie ranking of boards.</summary>
    [EnumDataType(typeof(LeaderboardRanking))]
    public LeaderboardRanking Ranking { get; set; } = LeaderboardRanking.Ordinal;

    /// <summary>Default period boards kept besides the all-time board.</summary>
    public LeaderboardWindows Windows { get; set; } = LeaderboardWindows.None;

    /// <summary>
    /// Default for "earlier achiever wins": scores are stored as
    /// <c>score × 2^TieBreakTimeBits + (2^TieBreakTimeBits − 1 − seconds since TieBreakEpoch)</c>, so of two
    /// equal scores the one reached first ranks higher. Scores must then be integers with
    /// <c>|score| ≤ 2^(53 − TieBreakTimeBits) − 1</c>.
    /// </summary>
    public bool EarlierAchieverWins { get; set; }

    /// <summary>Bits of the composite score given to the time (in seconds). 32 bits ≈ 136 years; scores then stay within ±2,097,151.</summary>
    [Range(16, 40)]
    public int TieBreakTimeBits { get; set; } = 32;

    /// <summary>The zero of the time part of composite scores (UTC). Achievements before it are rejected.</summary>
    public DateTimeOffset TieBreakEpoch { get; set; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The longest member id accepted, in UTF-8 bytes.</summary>
    [Range(1, 65536)]
    public int MaxMemberLength { get; set; } = 512;

    /// <summary>The most entries one read returns (top N, page size, 2k+1 around a member, members ranked at once).</summary>
    [Range(1, 10000)]
    public int MaxPageSize { get; set; } = 1000;

    /// <summary>How long a daily board is kept after its day ends.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "366.00:00:00")]
    public TimeSpan DailyRetention { get; set; } = TimeSpan.FromDays(2);

    /// <summary>How long a weekly board is kept after its week ends.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "366.00:00:00")]
    public TimeSpan WeeklyRetention { get; set; } = TimeSpan.FromDays(14);

    /// <summary>How long a monthly board is kept after its month ends.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "3660.00:00:00")]
    public TimeSpan MonthlyRetention { get; set; } = TimeSpan.FromDays(62);

    /// <summary>Test hook: compare in Lua instead of using ZADD GT/LT even when the server has them.</summary>
    internal bool ForceScriptComparison { get; set; }
}

[OptionsValidator]
internal sealed partial class LeaderboardsOptionsDataAnnotationsValidator : IValidateOptions<LeaderboardsOptions>;

/// <summary>Data annotations plus what they cannot express.</summary>
internal sealed class LeaderboardsOptionsValidator : IValidateOptions<LeaderboardsOptions>
{
    public ValidateOptionsResult Validate(string? name, LeaderboardsOptions options)
    {
        var annotations = new LeaderboardsOptionsDataAnnotationsValidator().Validate(name, options);
        if (annotations.Failed)
        {
            return annotations;
        }

        if ((options.Windows & ~(LeaderboardWindows.Daily | LeaderboardWindows.Weekly | LeaderboardWindows.Monthly)) != 0)
        {
            return ValidateOptionsResult.Fail("RedisKit:Leaderboards:Windows must combine Daily, Weekly and Monthly only.");
        }

        return ValidateOptionsResult.Success;
    }
}

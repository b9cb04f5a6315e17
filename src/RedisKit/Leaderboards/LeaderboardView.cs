using System.Diagnostics;
using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace RedisKit.Leaderboards;

/// <summary>
/// Reads of one board: the all-time board (<see cref="Leaderboard"/>) or one period of it
/// (<see cref="Leaderboard.Window"/>). Ranks are 1-based, highest score first; equal scores follow the
/// board's <see cref="LeaderboardRanking"/>. Every call is one round trip (a command or one script).
/// When Redis is down calls throw StackExchange.Redis's <see cref="RedisConnectionException"/> (or
/// <see cref="RedisTimeoutException"/> when it does not answer in time): a leaderboard has no
/// fallback copy to serve.
/// </summary>
public class LeaderboardView
{
    private readonly LeaderboardContext _context;

    internal LeaderboardView(LeaderboardContext context, LeaderboardSpec spec, LeaderboardPeriod period, string periodId, DateTimeOffset periodStart, DateTimeOffset periodEnd)
    {
        _context = context;
        Spec = spec;
        Period = period;
        PeriodId = periodId;
        Key = context.Connection.Keys.TaggedKey(LeaderboardContext.Capability, spec.Group, spec.Name, periodId);
        if (period != LeaderboardPeriod.AllTime)
        {
            PeriodStart = periodStart;
            PeriodEnd = periodEnd;
        }
    }

    /// <summary>The board's name.</summary>
    public string Name => Spec.Name;

    /// <summary>The board's hash-tag group (boards of one group can be merged on a cluster).</summary>
    public string Group => Spec.Group;

    /// <summary>How equal scores are ranked.</summary>
    public LeaderboardRanking Ranking => Spec.Ranking;

    /// <summary>Whether equal scores are ordered by who reached them first.</summary>
    public bool EarlierAchieverWins => Spec.Composite is not null;

    /// <summary>The period this view reads.</summary>
    public LeaderboardPeriod Period { get; }

    /// <summary>The period id in keys (<c>all</c>, <c>d2026-11-23</c>, <c>w2026-W48</c>, <c>m2026-11</c>).</summary>
    public string PeriodId { get; }

    /// <summary>Start (UTC, inclusive) of the period; null for the all-time board.</summary>
    public DateTimeOffset? PeriodStart { get; }

    /// <summary>End (UTC, exclusive) of the period; null for the all-time board.</summary>
    public DateTimeOffset? PeriodEnd { get; }

    internal LeaderboardSpec Spec { get; }

    internal RedisKey Key { get; }

    private protected LeaderboardContext Context => _context;

    /// <summary>The member's score, or null when it is not on the board. One round trip (ZSCORE).</summary>
    public Task<double?> GetScoreAsync(string member, CancellationToken cancellationToken = default)
    {
        CheckMember(member);
        return RunAsync("score", async db =>
        {
            var stored = await db.SortedSetScoreAsync(Key, member).ConfigureAwait(false);
            return stored is { } value ? Decode(value) : (double?)null;
        }, cancellationToken);
    }

    /// <summary>
    /// The member's 1-based rank under the board's ranking, or null when it is not on the board. One
    /// round trip: ZREVRANK for <see cref="LeaderboardRanking.Ordinal"/>, else one script (ZREVRANK +
    /// ZCOUNT, or one step per distinct better score for <see cref="LeaderboardRanking.Dense"/>).
    /// </summary>
    public Task<long?> GetRankAsync(string member, CancellationToken cancellationToken = default)
    {
        CheckMember(member);
        if (Spec.Ranking == LeaderboardRanking.Ordinal)
        {
            return RunAsync("rank", async db =>
            {
                var index = await db.SortedSetRankAsync(Key, member, Order.Descending).ConfigureAwait(false);
                return index + 1;
            }, cancellationToken);
        }

        return RunAsync("rank", async db =>
        {
            var entries = await RankMembersCoreAsync(db, [member]).ConfigureAwait(false);
            return entries.Count == 0 ? (long?)null : entries[0].Rank;
        }, cancellationToken);
    }

    /// <summary>The member's score and rank, or null when it is not on the board. One round trip (one script).</summary>
    public Task<LeaderboardEntry?> GetEntryAsync(string member, CancellationToken cancellationToken = default)
    {
        CheckMember(member);
        return RunAsync("rank", async db =>
        {
            var entries = await RankMembersCoreAsync(db, [member]).ConfigureAwait(false);
            return entries.Count == 0 ? null : entries[0];
        }, cancellationToken);
    }

    /// <summary>
    /// The best <paramref name="count"/> entries, highest first. One round trip: ZREVRANGE … WITHSCORES
    /// for <see cref="LeaderboardRanking.Ordinal"/>, else one script that adds the first entry's tie rank.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is below 1 or above <see cref="LeaderboardsOptions.MaxPageSize"/>.</exception>
    public Task<IReadOnlyList<LeaderboardEntry>> GetTopAsync(int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Context.Options.MaxPageSize);
        return GetRangeAsync("top", 0, count - 1, cancellationToken);
    }

    /// <summary>
    /// Page <paramref name="page"/> (1-based) of <paramref name="pageSize"/> entries, highest first; empty
    /// past the end. One round trip (see <see cref="GetTopAsync"/>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="page"/> is below 1, or <paramref name="pageSize"/> is below 1 or above <see cref="LeaderboardsOptions.MaxPageSize"/>.</exception>
    public Task<IReadOnlyList<LeaderboardEntry>> GetPageAsync(int page, int pageSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(page, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, Context.Options.MaxPageSize);
        var start = (long)(page - 1) * pageSize;
        return GetRangeAsync("page", start, start + pageSize - 1, cancellationToken);
    }

    /// <summary>
    /// The member with up to <paramref name="k"/> entries above and below it, highest first; empty when the
    /// member is not on the board. One round trip (one script: ZREVRANK then ZREVRANGE).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is negative or 2k+1 exceeds <see cref="LeaderboardsOptions.MaxPageSize"/>.</exception>
    public Task<IReadOnlyList<LeaderboardEntry>> GetAroundAsync(string member, int k, CancellationToken cancellationToken = default)
    {
        CheckMember(member);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((2L * k) + 1, Context.Options.MaxPageSize, nameof(k));
        return RunAsync<IReadOnlyList<LeaderboardEntry>>("around", async db =>
        {
            var result = await LeaderboardContext.RangeScript.EvaluateAsync(db, [Key],
                [Spec.RankingCode, Spec.Factor, "around", member, k]).ConfigureAwait(false);
            return ParseRange(result);
        }, cancellationToken);
    }

    /// <summary>How many members the board has. One round trip (ZCARD).</summary>
    public Task<long> GetCountAsync(CancellationToken cancellationToken = default) =>
        RunAsync("count", db => db.SortedSetLengthAsync(Key), cancellationToken);

    /// <summary>
    /// Entries whose score is between <paramref name="min"/> and <paramref name="max"/> (both inclusive;
    /// infinities allowed as open bounds), highest first, at most <paramref name="limit"/>. One round trip
    /// (one script: ZREVRANGEBYSCORE and ZCOUNT for the first rank).
    /// </summary>
    /// <exception cref="ArgumentException">A bound is NaN or <paramref name="min"/> exceeds <paramref name="max"/>.</exception>
    public Task<IReadOnlyList<LeaderboardEntry>> GetByScoreAsync(double min, double max, int limit, CancellationToken cancellationToken = default)
    {
        if (double.IsNaN(min) || double.IsNaN(max))
        {
            throw new ArgumentException("Score bounds may not be NaN.", double.IsNaN(min) ? nameof(min) : nameof(max));
        }

        if (min > max)
        {
            throw new ArgumentException("min may not exceed max.", nameof(min));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, Context.Options.MaxPageSize);
        var storedMax = Spec.Composite is { } c ? c.UpperBound(max) : max;
        var storedMin = Spec.Composite is { } d ? d.LowerBound(min) : min;
        return RunAsync<IReadOnlyList<LeaderboardEntry>>("score_range", async db =>
        {
            var result = await LeaderboardContext.RangeScript.EvaluateAsync(db, [Key],
                [Spec.RankingCode, Spec.Factor, "score", Bound(storedMax), Bound(storedMin), limit]).ConfigureAwait(false);
            return ParseRange(result);
        }, cancellationToken);
    }

    /// <summary>
    /// The percentage of the board's members whose score is strictly lower than the member's (0 for the
    /// lowest score, just under 100 for a sole leader), or null when the member is not on the board. One
    /// round trip (one script: ZSCORE, ZCOUNT, ZCARD).
    /// </summary>
    public Task<double?> GetPercentileAsync(string member, CancellationToken cancellationToken = default)
    {
        CheckMember(member);
        return RunAsync("percentile", async db =>
        {
            var result = await LeaderboardContext.PercentileScript.EvaluateAsync(db, [Key], [member, Spec.Factor]).ConfigureAwait(false);
            if (result.IsNull)
            {
                return (double?)null;
            }

            var parts = (RedisResult[])result!;
            var lower = (long)parts[0];
            var count = (long)parts[1];
            return count == 0 ? 0 : 100.0 * lower / count;
        }, cancellationToken);
    }

    /// <summary>
    /// Ranks a group of members (a player's friends): their entries with their board-wide ranks, best
    /// first; members not on the board are left out, so a member's place within the group is its index + 1.
    /// One round trip (one script over the members).
    /// </summary>
    /// <exception cref="ArgumentException">A member is empty or too long, or there are more than <see cref="LeaderboardsOptions.MaxPageSize"/>.</exception>
    public Task<IReadOnlyList<LeaderboardEntry>> RankMembersAsync(IEnumerable<string> members, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(members);
        var list = members.Distinct(StringComparer.Ordinal).ToArray();
        if (list.Length > Context.Options.MaxPageSize)
        {
            throw new ArgumentException($"At most {Context.Options.MaxPageSize} members can be ranked at once (RedisKit:Leaderboards:MaxPageSize).", nameof(members));
        }

        foreach (var member in list)
        {
            CheckMember(member, nameof(members));
        }

        if (list.Length == 0)
        {
            return Task.FromResult<IReadOnlyList<LeaderboardEntry>>([]);
        }

        return RunAsync("rank_members", db => RankMembersCoreAsync(db, list), cancellationToken);
    }

    private async Task<IReadOnlyList<LeaderboardEntry>> RankMembersCoreAsync(IDatabase db, string[] members)
    {
        var values = new RedisValue[members.Length + 2];
        values[0] = Spec.RankingCode;
        values[1] = Spec.Factor;
        for (var i = 0; i < members.Length; i++)
        {
            values[i + 2] = members[i];
        }

        var result = (RedisResult[])(await LeaderboardContext.RankScript.EvaluateAsync(db, [Key], values).ConfigureAwait(false))!;
        var found = new (long Index, LeaderboardEntry Entry)[result.Length / 4];
        for (var i = 0; i < found.Length; i++)
        {
            var o = i * 4;
            found[i] = ((long)result[o + 2], new LeaderboardEntry((string)result[o]!, Decode((double)result[o + 1]), (long)result[o + 3]));
        }

        Array.Sort(found, static (a, b) => a.Index.CompareTo(b.Index));
        return Array.ConvertAll(found, static f => f.Entry);
    }

    private Task<IReadOnlyList<LeaderboardEntry>> GetRangeAsync(string operation, long start, long stop, CancellationToken cancellationToken)
    {
        if (Spec.Ranking == LeaderboardRanking.Ordinal)
        {
            return RunAsync<IReadOnlyList<LeaderboardEntry>>(operation, async db =>
            {
                var items = await db.SortedSetRangeByRankWithScoresAsync(Key, start, stop, Order.Descending).ConfigureAwait(false);
                var entries = new LeaderboardEntry[items.Length];
                for (var i = 0; i < items.Length; i++)
                {
                    entries[i] = new LeaderboardEntry(items[i].Element!, Decode(items[i].Score), start + i + 1);
                }

                return entries;
            }, cancellationToken);
        }

        return RunAsync<IReadOnlyList<LeaderboardEntry>>(operation, async db =>
        {
            var result = await LeaderboardContext.RangeScript.EvaluateAsync(db, [Key],
                [Spec.RankingCode, Spec.Factor, "index", start, stop]).ConfigureAwait(false);
            return ParseRange(result);
        }, cancellationToken);
    }

    /// <summary>Turns {first index, first tie rank, member, score, …} into entries with ranks.</summary>
    private LeaderboardEntry[] ParseRange(RedisResult result)
    {
        var parts = (RedisResult[])result!;
        if (parts.Length < 2)
        {
            return [];
        }

        var start = (long)parts[0];
        var rank = (long)parts[1];
        var entries = new LeaderboardEntry[(parts.Length - 2) / 2];
        double previous = 0;
        for (var i = 0; i < entries.Length; i++)
        {
            var score = Decode((double)parts[2 + (i * 2) + 1]);
            if (i > 0)
            {
                rank = Spec.Ranking switch
                {
                    LeaderboardRanking.StandardCompetition => score == previous ? rank : start + i + 1,
                    LeaderboardRanking.Dense => score == previous ? rank : rank + 1,
                    _ => start + i + 1,
                };
            }

            entries[i] = new LeaderboardEntry((string)parts[2 + (i * 2)]!, score, rank);
            previous = score;
        }

        return entries;
    }

    private protected double Decode(double stored) => Spec.Composite is { } c ? c.Decode(stored) : stored;

    private static RedisValue Bound(double value) => double.IsPositiveInfinity(value) ? "+inf"
        : double.IsNegativeInfinity(value) ? "-inf"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private protected void CheckMember(string member, string paramName = "member")
    {
        if (string.IsNullOrEmpty(member))
        {
            throw new ArgumentException("A leaderboard member id may not be null or empty.", paramName);
        }

        var max = Context.Options.MaxMemberLength;
        if (member.Length * 3 > max && Encoding.UTF8.GetByteCount(member) > max)
        {
            throw new ArgumentException($"A leaderboard member id may be at most {max} UTF-8 bytes (RedisKit:Leaderboards:MaxMemberLength).", paramName);
        }
    }

    private protected async Task<T> RunAsync<T>(string operation, Func<IDatabase, Task<T>> body, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var started = Stopwatch.GetTimestamp();
        using var activity = RedisKitDiagnostics.ActivitySource.StartActivity("rediskit.leaderboard", ActivityKind.Client);
        activity?.SetTag("rediskit.leaderboard.operation", operation);
        try
        {
            var db = await Context.Connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var task = body(db);
            var result = cancellationToken.CanBeCanceled
                ? await task.WaitAsync(cancellationToken).ConfigureAwait(false)
                : await task.ConfigureAwait(false);
            Context.Instruments.Record(operation, started, success: true);
            return result;
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not ArgumentException)
        {
            Context.Instruments.Record(operation, started, success: false);
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            LeaderboardsLog.OperationFailed(Context.Logger, operation, ex);
            throw;
        }
    }
}

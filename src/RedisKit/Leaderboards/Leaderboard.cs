using StackExchange.Redis;

namespace RedisKit.Leaderboards;

/// <summary>
/// One leaderboard: reads of its all-time board (inherited from <see cref="LeaderboardView"/>) and writes
/// that update the all-time board and every configured period board (day, ISO week, month, chosen in UTC
/// from the registered <see cref="TimeProvider"/>) in one round trip. All of a board's keys share one
/// hash tag (<c>{group}</c>), so the multi-key scripts work on Redis Cluster. Obtain it from
/// <see cref="ILeaderboards"/>; it is cheap and thread-safe.
/// </summary>
public sealed class Leaderboard : LeaderboardView
{
    internal Leaderboard(LeaderboardContext context, LeaderboardSpec spec)
        : base(context, spec, LeaderboardPeriod.AllTime, "all", DateTimeOffset.MinValue, DateTimeOffset.MaxValue)
    {
    }

    /// <summary>The period boards kept besides the all-time board.</summary>
    public LeaderboardWindows Windows => Spec.Windows;

    /// <summary>
    /// The board of <paramref name="period"/> containing <paramref name="at"/> (default: now, from the
    /// registered <see cref="TimeProvider"/>), for reading. No round trip.
    /// </summary>
    /// <exception cref="ArgumentException">The board keeps no such period board.</exception>
    public LeaderboardView Window(LeaderboardPeriod period, DateTimeOffset? at = null)
    {
        if (period == LeaderboardPeriod.AllTime)
        {
            return this;
        }

        if ((Spec.Windows & LeaderboardPeriods.ToWindow(period)) == 0)
        {
            throw new ArgumentException($"Leaderboard '{Name}' keeps no {period} board (its windows are {Spec.Windows}).", nameof(period));
        }

        var (id, start, end) = LeaderboardPeriods.For(period, at ?? Context.Time.GetUtcNow());
        return new LeaderboardView(Context, Spec, period, id, start, end);
    }

    /// <summary>
    /// Sets the member's score on the all-time board and the current period boards (each compared on its
    /// own for <see cref="ScoreUpdate.OnlyIfHigher"/>/<see cref="ScoreUpdate.OnlyIfLower"/>) and refreshes the
    /// period boards' expiry. One round trip: ZADD [GT|LT] CH when the board has no windows (GT/LT need
    /// Redis 6.2; older servers get a script), else one script over the board's keys.
    /// </summary>
    /// <param name="member">The member id.</param>
    /// <param name="score">A finite score; whole and within ±(2^(53−bits)−1) on earlier-achiever boards.</param>
    /// <param name="update">When the new score replaces the stored one.</param>
    /// <param name="achievedAt">When the score was reached (earlier-achiever boards); default now.</param>
    /// <param name="cancellationToken">Cancels the wait (not the command once sent).</param>
    /// <returns>Whether the all-time board changed (member added or score changed).</returns>
    /// <exception cref="ArgumentException">The member is empty or too long, or the score is NaN, infinite or out of the composite range.</exception>
    public Task<bool> SetScoreAsync(string member, double score, ScoreUpdate update = ScoreUpdate.Always, DateTimeOffset? achievedAt = null, CancellationToken cancellationToken = default)
    {
        CheckMember(member);
        CheckFinite(score, nameof(score));
        var now = Context.Time.GetUtcNow();
        var stored = score;
        if (Spec.Composite is { } composite)
        {
            composite.CheckScore(score, nameof(score));
            stored = composite.Encode(score, composite.TimePart(achievedAt ?? now, nameof(achievedAt)));
        }

        var mode = update switch
        {
            ScoreUpdate.OnlyIfHigher => "gt",
            ScoreUpdate.OnlyIfLower => "lt",
            ScoreUpdate.Always => "set",
            _ => throw new ArgumentOutOfRangeException(nameof(update), update, "Unknown score update mode."),
        };

        return RunAsync("set", async db =>
        {
            var capabilities = await Context.Connection.GetCapabilitiesAsync().ConfigureAwait(false);
            var flags = capabilities.Has(RedisFeatures.ZAddGreaterLess) && !Context.Options.ForceScriptComparison;
            bool changed;
            if (Spec.Windows == LeaderboardWindows.None && (mode == "set" || flags))
            {
                var reply = mode == "set"
                    ? await db.ExecuteAsync("ZADD", Key, "CH", (RedisValue)stored, member).ConfigureAwait(false)
                    : await db.ExecuteAsync("ZADD", Key, mode == "gt" ? "GT" : "LT", "CH", (RedisValue)stored, member).ConfigureAwait(false);
                changed = (long)reply == 1;
            }
            else
            {
                var (keys, values) = WriteArguments(now, mode, member, stored, timePart: 0, flags);
                changed = (long)await LeaderboardContext.WriteScript.EvaluateAsync(db, keys, values).ConfigureAwait(false) == 1;
            }

            Context.Instruments.Written(changed);
            return changed;
        }, cancellationToken);
    }

    /// <summary>
    /// Adds <paramref name="delta"/> to the member's score (a new member starts at 0) on the all-time board
    /// and the current period boards. One round trip: ZINCRBY for a plain board without windows, else one
    /// script. On earlier-achiever boards the time part becomes <paramref name="achievedAt"/> (default now):
    /// the member reached its new score then.
    /// </summary>
    /// <returns>The member's new all-time score.</returns>
    /// <exception cref="ArgumentException">The member is empty or too long, <paramref name="delta"/> is not finite, or the new score leaves the composite range.</exception>
    public Task<double> IncrementAsync(string member, double delta, DateTimeOffset? achievedAt = null, CancellationToken cancellationToken = default)
    {
        CheckMember(member);
        CheckFinite(delta, nameof(delta));
        var now = Context.Time.GetUtcNow();
        long timePart = 0;
        if (Spec.Composite is { } composite)
        {
            composite.CheckScore(delta, nameof(delta));
            timePart = composite.TimePart(achievedAt ?? now, nameof(achievedAt));
        }

        return RunAsync("increment", async db =>
        {
            if (Spec.Windows == LeaderboardWindows.None && Spec.Composite is null)
            {
                return await db.SortedSetIncrementAsync(Key, member, delta).ConfigureAwait(false);
            }

            var (keys, values) = WriteArguments(now, "incr", member, delta, timePart, flags: false);
            try
            {
                var result = await LeaderboardContext.WriteScript.EvaluateAsync(db, keys, values).ConfigureAwait(false);
                return Decode((double)result);
            }
            catch (RedisServerException ex) when (ex.Message.Contains("score out of range", StringComparison.Ordinal))
            {
                throw new ArgumentOutOfRangeException(nameof(delta), delta,
                    $"The new score would leave the earlier-achiever range of ±{Spec.Composite!.Value.MaxScore}.");
            }
        }, cancellationToken);
    }

    /// <summary>
    /// Removes the member from the all-time board and the current period boards (past period boards keep
    /// it until they expire). One round trip (ZREM, or one script with windows).
    /// </summary>
    /// <returns>Whether the member was on the all-time board.</returns>
    public Task<bool> RemoveAsync(string member, CancellationToken cancellationToken = default)
    {
        CheckMember(member);
        return RunAsync("remove", async db =>
        {
            if (Spec.Windows == LeaderboardWindows.None)
            {
                return await db.SortedSetRemoveAsync(Key, member).ConfigureAwait(false);
            }

            var keys = CurrentKeys(Context.Time.GetUtcNow(), out _);
            return (long)await LeaderboardContext.RemoveScript.EvaluateAsync(db, keys, [member]).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    /// <summary>Deletes the all-time board and the current period boards. One round trip (DEL).</summary>
    /// <returns>How many of those boards existed.</returns>
    public Task<long> ClearAsync(CancellationToken cancellationToken = default) =>
        RunAsync("clear", db => db.KeyDeleteAsync(CurrentKeys(Context.Time.GetUtcNow(), out _)), cancellationToken);

    private (RedisKey[] Keys, RedisValue[] Values) WriteArguments(DateTimeOffset now, string mode, string member, double value, long timePart, bool flags)
    {
        var keys = CurrentKeys(now, out var ttls);
        var values = new RedisValue[6 + ttls.Length];
        values[0] = mode;
        values[1] = member;
        values[2] = value;
        values[3] = Spec.Factor;
        values[4] = timePart;
        values[5] = flags ? "1" : "0";
        for (var i = 0; i < ttls.Length; i++)
        {
            values[6 + i] = ttls[i];
        }

        return (keys, values);
    }

    /// <summary>The all-time key then the current period keys, with each period key's expiry in ms.</summary>
    private RedisKey[] CurrentKeys(DateTimeOffset now, out long[] ttls)
    {
        var count = 1 + System.Numerics.BitOperations.PopCount((uint)Spec.Windows);
        var keys = new RedisKey[count];
        ttls = new long[count - 1];
        keys[0] = Key;
        var i = 1;
        foreach (var (period, retention) in Periods())
        {
            if ((Spec.Windows & LeaderboardPeriods.ToWindow(period)) == 0)
            {
                continue;
            }

            var (id, _, end) = LeaderboardPeriods.For(period, now);
            keys[i] = Context.Connection.Keys.TaggedKey(LeaderboardContext.Capability, Spec.Group, Spec.Name, id);
            ttls[i - 1] = Math.Max(1, (long)Math.Ceiling((end + retention - now).TotalMilliseconds));
            i++;
        }

        return keys;
    }

    private (LeaderboardPeriod, TimeSpan)[] Periods() =>
    [
        (LeaderboardPeriod.Daily, Context.Options.DailyRetention),
        (LeaderboardPeriod.Weekly, Context.Options.WeeklyRetention),
        (LeaderboardPeriod.Monthly, Context.Options.MonthlyRetention),
    ];

    private static void CheckFinite(double value, string paramName)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentException($"A leaderboard score must be a finite number; got {value}.", paramName);
        }
    }
}

namespace RedisKit.Leaderboards;

/// <summary>
/// The "earlier achiever wins" layout: <c>stored = score × 2^bits + (2^bits − 1 − t)</c>, where t is the
/// achievement time in whole seconds since the epoch. Of two equal scores the earlier t leaves a larger
/// remainder and ranks higher; a higher score always wins because the time part is below 2^bits. Every
/// stored value stays an integer with magnitude below 2^53, so a double (Redis's score type) holds it
/// exactly; the bounds are checked before anything is sent.
/// </summary>
internal readonly struct CompositeScore
{
    public CompositeScore(int bits, DateTimeOffset epoch)
    {
        Bits = bits;
        Factor = Math.Pow(2, bits);
        MaxTime = (long)Factor - 1;
        MaxScore = Math.Pow(2, 53 - bits) - 1;
        Epoch = epoch;
    }

    public int Bits { get; }

    /// <summary>2^bits.</summary>
    public double Factor { get; }

    /// <summary>The largest time part (seconds since the epoch).</summary>
    public long MaxTime { get; }

    /// <summary>The largest score magnitude: 2^(53 − bits) − 1.</summary>
    public double MaxScore { get; }

    public DateTimeOffset Epoch { get; }

    public long TimePart(DateTimeOffset achievedAt, string paramName)
    {
        var seconds = (long)Math.Floor((achievedAt - Epoch).TotalSeconds);
        if (seconds < 0 || seconds > MaxTime)
        {
            throw new ArgumentOutOfRangeException(paramName, achievedAt,
                $"An earlier-achiever leaderboard records times from {Epoch:O} to {Epoch.AddSeconds(MaxTime):O} (RedisKit:Leaderboards:TieBreakEpoch and TieBreakTimeBits).");
        }

        return MaxTime - seconds;
    }

    public void CheckScore(double score, string paramName)
    {
        if (Math.Floor(score) != score || Math.Abs(score) > MaxScore)
        {
            throw new ArgumentOutOfRangeException(paramName, score,
                $"An earlier-achiever leaderboard stores whole scores from -{MaxScore} to {MaxScore} (2^(53 - TieBreakTimeBits) - 1), so that score and time stay exact in one double.");
        }
    }

    public double Encode(double score, long timePart) => (score * Factor) + timePart;

    public double Decode(double stored) => Math.Floor(stored / Factor);

    /// <summary>The lowest stored value of a whole score at or above <paramref name="score"/>.</summary>
    public double LowerBound(double score) => double.IsInfinity(score) ? score : Math.Ceiling(score) * Factor;

    /// <summary>The highest stored value of a whole score at or below <paramref name="score"/>.</summary>
    public double UpperBound(double score) => double.IsInfinity(score) ? score : ((Math.Floor(score) + 1) * Factor) - 1;
}

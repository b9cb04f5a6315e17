using System.Globalization;

namespace RedisKit.Leaderboards;

/// <summary>Period ids and bounds, all in UTC: days, ISO-8601 weeks (Monday first, week-numbering year), months.</summary>
internal static class LeaderboardPeriods
{
    public static (string Id, DateTimeOffset Start, DateTimeOffset End) For(LeaderboardPeriod period, DateTimeOffset at)
    {
        var utc = at.UtcDateTime;
        var day = new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero);
        switch (period)
        {
            case LeaderboardPeriod.Daily:
                return ("d" + day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), day, day.AddDays(1));
            case LeaderboardPeriod.Weekly:
                var year = ISOWeek.GetYear(utc);
                var week = ISOWeek.GetWeekOfYear(utc);
                var monday = new DateTimeOffset(ISOWeek.ToDateTime(year, week, DayOfWeek.Monday), TimeSpan.Zero);
                return (string.Create(CultureInfo.InvariantCulture, $"w{year:D4}-W{week:D2}"), monday, monday.AddDays(7));
            case LeaderboardPeriod.Monthly:
                var first = new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
                return ("m" + first.ToString("yyyy-MM", CultureInfo.InvariantCulture), first, first.AddMonths(1));
            case LeaderboardPeriod.AllTime:
                return ("all", DateTimeOffset.MinValue, DateTimeOffset.MaxValue);
            default:
                throw new ArgumentOutOfRangeException(nameof(period), period, "Unknown leaderboard period.");
        }
    }

    public static LeaderboardWindows ToWindow(LeaderboardPeriod period) => period switch
    {
        LeaderboardPeriod.Daily => LeaderboardWindows.Daily,
        LeaderboardPeriod.Weekly => LeaderboardWindows.Weekly,
        LeaderboardPeriod.Monthly => LeaderboardWindows.Monthly,
        _ => LeaderboardWindows.None,
    };
}

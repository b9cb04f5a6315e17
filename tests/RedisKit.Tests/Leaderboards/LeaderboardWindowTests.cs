using Microsoft.Extensions.Time.Testing;
using RedisKit.Leaderboards;

namespace RedisKit.Tests.Leaderboards;

public class LeaderboardWindowTests
{
    private static readonly LeaderboardDefinition AllWindows = new("game")
    {
        Windows = LeaderboardWindows.Daily | LeaderboardWindows.Weekly | LeaderboardWindows.Monthly,
    };

    private static async Task<string> MembersAsync(LeaderboardView view) =>
        string.Join(",", (await view.GetTopAsync(100)).Select(e => e.Member).Order(StringComparer.Ordinal));

    [Theory]
    [InlineData("2026-11-23T00:00:00Z", "d2026-11-23", "w2026-W48", "m2026-11")]
    [InlineData("2026-11-29T23:59:59Z", "d2026-11-29", "w2026-W48", "m2026-11")]
    [InlineData("2026-11-30T00:00:00Z", "d2026-11-30", "w2026-W49", "m2026-11")]
    [InlineData("2027-01-01T10:00:00Z", "d2027-01-01", "w2026-W53", "m2027-01")]
    [InlineData("2027-01-04T00:00:00Z", "d2027-01-04", "w2027-W01", "m2027-01")]
    [InlineData("2026-11-23T23:30:00-05:00", "d2026-11-24", "w2026-W48", "m2026-11")]
    public void Periods_AreUtcDaysIsoWeeksAndMonths(string at, string day, string week, string month)
    {
        var time = DateTimeOffset.Parse(at, System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal(day, LeaderboardPeriods.For(LeaderboardPeriod.Daily, time).Id);
        Assert.Equal(week, LeaderboardPeriods.For(LeaderboardPeriod.Weekly, time).Id);
        Assert.Equal(month, LeaderboardPeriods.For(LeaderboardPeriod.Monthly, time).Id);
    }

    [Fact]
    public async Task Write_AcrossDayWeekAndMonthRollover_LandsInEachPeriodBoard()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 29, 23, 59, 30, TimeSpan.Zero)); // Sunday, ISO week 48
        await using var fixture = await BoardFixture.RedisAsync(time: time);
        var board = fixture.Boards.Get(AllWindows);

        await board.SetScoreAsync("alice", 10);
        var sunday = time.GetUtcNow();
        time.Advance(TimeSpan.FromMinutes(1));                       // Monday 30 Nov: new day and week, same month
        await board.IncrementAsync("bob", 20);
        var monday = time.GetUtcNow();
        time.Advance(TimeSpan.FromDays(1));                          // Tuesday 1 Dec: new day and month, same week
        await board.SetScoreAsync("carol", 30, ScoreUpdate.OnlyIfHigher);
        await board.SetScoreAsync("alice", 5, ScoreUpdate.OnlyIfHigher); // all-time keeps 10; today's board gets 5

        Assert.Equal("alice,bob,carol", await MembersAsync(board));
        Assert.Equal(10, await board.GetScoreAsync("alice"));
        Assert.Equal("alice", await MembersAsync(board.Window(LeaderboardPeriod.Daily, sunday)));
        Assert.Equal("bob", await MembersAsync(board.Window(LeaderboardPeriod.Daily, monday)));
        Assert.Equal("alice,carol", await MembersAsync(board.Window(LeaderboardPeriod.Daily)));
        Assert.Equal(5, await board.Window(LeaderboardPeriod.Daily).GetScoreAsync("alice"));
        Assert.Equal("alice", await MembersAsync(board.Window(LeaderboardPeriod.Weekly, sunday)));
        Assert.Equal("alice,bob,carol", await MembersAsync(board.Window(LeaderboardPeriod.Weekly)));
        Assert.Equal("alice,bob", await MembersAsync(board.Window(LeaderboardPeriod.Monthly, sunday)));
        Assert.Equal("alice,carol", await MembersAsync(board.Window(LeaderboardPeriod.Monthly)));

        var today = board.Window(LeaderboardPeriod.Daily);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), today.PeriodStart);
        Assert.Equal("d2026-12-01", today.PeriodId);
    }

    [Fact]
    public async Task Write_PeriodBoards_ExpireRetentionAfterPeriodEnd()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var fixture = await BoardFixture.RedisAsync(o => o.DailyRetention = TimeSpan.FromHours(1), time);
        var board = fixture.Boards.Get(AllWindows);

        await board.SetScoreAsync("alice", 1);

        var db = await fixture.DatabaseAsync();
        var daily = await db.KeyTimeToLiveAsync(board.Window(LeaderboardPeriod.Daily).Key);
        var weekly = await db.KeyTimeToLiveAsync(board.Window(LeaderboardPeriod.Weekly).Key);
        var monthly = await db.KeyTimeToLiveAsync(board.Window(LeaderboardPeriod.Monthly).Key);
        Assert.Null(await db.KeyTimeToLiveAsync(board.Key));

        // 12h left in the day + 1h retention; 6.5 days in the week + 14 days; 7.5 days in the month + 62 days.
        Assert.InRange(daily!.Value, TimeSpan.FromHours(12.9), TimeSpan.FromHours(13));
        Assert.InRange(weekly!.Value, TimeSpan.FromDays(20.49), TimeSpan.FromDays(20.5));
        Assert.InRange(monthly!.Value, TimeSpan.FromDays(69.49), TimeSpan.FromDays(69.5));
    }

    [Fact]
    public async Task Merge_DailyBoards_SumsIntoDestinationWithExpiry()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var fixture = await BoardFixture.RedisAsync(time: time);
        var board = fixture.Boards.Get(new LeaderboardDefinition("game") { Windows = LeaderboardWindows.Daily });
        var twoDays = fixture.Boards.Get(new LeaderboardDefinition("game-2d") { Group = "game" });

        await board.IncrementAsync("alice", 10);
        await board.IncrementAsync("bob", 3);
        var yesterday = board.Window(LeaderboardPeriod.Daily);
        time.Advance(TimeSpan.FromDays(1));
        await board.IncrementAsync("alice", 1);
        await board.IncrementAsync("carol", 20);

        var count = await fixture.Boards.MergeAsync(twoDays, [yesterday, board.Window(LeaderboardPeriod.Daily)], LeaderboardAggregate.Sum, TimeSpan.FromMinutes(5));

        Assert.Equal(3, count);
        Assert.Equal([new("carol", 20, 1), new("alice", 11, 2), new("bob", 3, 3)], await twoDays.GetTopAsync(10));
        var ttl = await (await fixture.DatabaseAsync()).KeyTimeToLiveAsync(twoDays.Key);
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));

        await fixture.Boards.MergeAsync(twoDays, [yesterday, board.Window(LeaderboardPeriod.Daily)], LeaderboardAggregate.Max);
        Assert.Equal(10, await twoDays.GetScoreAsync("alice"));
    }

    [Fact]
    public async Task Merge_EarlierAchieverBoards_MaxKeepsLayoutAndSumIsRejected()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var fixture = await BoardFixture.RedisAsync(o => o.EarlierAchieverWins = true, time);
        var east = fixture.Boards.Get(new LeaderboardDefinition("east") { Group = "region" });
        var west = fixture.Boards.Get(new LeaderboardDefinition("west") { Group = "region" });
        var world = fixture.Boards.Get(new LeaderboardDefinition("world") { Group = "region" });
        var plain = fixture.Boards.Get(new LeaderboardDefinition("plain") { Group = "region", EarlierAchieverWins = false });

        await east.SetScoreAsync("zed", 50);
        time.Advance(TimeSpan.FromSeconds(3));
        await west.SetScoreAsync("amy", 50);
        await west.SetScoreAsync("zed", 40);

        Assert.Equal(2, await fixture.Boards.MergeAsync(world, [east, west], LeaderboardAggregate.Max));
        Assert.Equal([new("zed", 50, 1), new("amy", 50, 2)], await world.GetTopAsync(10));

        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Boards.MergeAsync(world, [east, west]));
        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Boards.MergeAsync(world, [plain], LeaderboardAggregate.Max));
        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Boards.MergeAsync(world, []));
    }

    [Fact]
    public async Task Merge_OnCluster_SameGroupWorksOtherGroupIsRejected()
    {
        await using var fixture = await BoardFixture.ClusterAsync();
        var season1 = fixture.Boards.Get(new LeaderboardDefinition("s1") { Group = "seasons" });
        var season2 = fixture.Boards.Get(new LeaderboardDefinition("s2") { Group = "seasons" });
        var total = fixture.Boards.Get(new LeaderboardDefinition("total") { Group = "seasons" });
        var elsewhere = fixture.Boards.Get("elsewhere");
        await season1.SetScoreAsync("alice", 5);
        await season2.SetScoreAsync("alice", 7);
        await season2.SetScoreAsync("bob", 1);

        Assert.Equal(2, await fixture.Boards.MergeAsync(total, [season1, season2]));
        Assert.Equal(12, await total.GetScoreAsync("alice"));
        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Boards.MergeAsync(total, [elsewhere]));
    }

    [Fact]
    public async Task Write_WindowsOnCluster_OneScriptOverTaggedKeys()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 23, 59, 59, TimeSpan.Zero));
        await using var fixture = await BoardFixture.ClusterAsync(time: time);
        var board = fixture.Boards.Get(AllWindows);

        await board.SetScoreAsync("alice", 1);
        time.Advance(TimeSpan.FromSeconds(2));
        await board.SetScoreAsync("bob", 2);

        Assert.Equal("alice,bob", await MembersAsync(board));
        Assert.Equal("bob", await MembersAsync(board.Window(LeaderboardPeriod.Monthly)));
        Assert.Equal("alice,bob", await MembersAsync(board.Window(LeaderboardPeriod.Weekly)));
        Assert.Equal(4, await board.ClearAsync()); // all-time, day, week and month boards
    }
}

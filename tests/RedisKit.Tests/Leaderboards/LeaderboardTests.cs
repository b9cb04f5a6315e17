using RedisKit.Leaderboards;
using StackExchange.Redis;

namespace RedisKit.Tests.Leaderboards;

public class LeaderboardTests
{
    private static async Task<Leaderboard> SeedAsync(BoardFixture fixture, string name, params (string Member, double Score)[] scores)
    {
        var board = fixture.Boards.Get(name);
        foreach (var (member, score) in scores)
        {
            await board.SetScoreAsync(member, score);
        }

        return board;
    }

    [Fact]
    public async Task SetScore_Always_OverwritesAndReportsChange()
    {
        await using var fixture = await BoardFixture.RedisAsync();
        var board = fixture.Boards.Get("game");

        Assert.True(await board.SetScoreAsync("alice", 10));
        Assert.False(await board.SetScoreAsync("alice", 10));
        Assert.True(await board.SetScoreAsync("alice", 5));

        Assert.Equal(5, await board.GetScoreAsync("alice"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SetScore_OnlyIfHigher_KeepsBestScore(bool scriptFallback)
    {
        await using var fixture = await BoardFixture.RedisAsync(o => o.ForceScriptComparison = scriptFallback);
        var board = fixture.Boards.Get("game");

        Assert.True(await board.SetScoreAsync("alice", 10, ScoreUpdate.OnlyIfHigher));
        Assert.False(await board.SetScoreAsync("alice", 7, ScoreUpdate.OnlyIfHigher));
        Assert.True(await board.SetScoreAsync("alice", 12, ScoreUpdate.OnlyIfHigher));

        Assert.Equal(12, await board.GetScoreAsync("alice"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SetScore_OnlyIfLower_KeepsLowestScore(bool scriptFallback)
    {
        await using var fixture = await BoardFixture.RedisAsync(o => o.ForceScriptComparison = scriptFallback);
        var board = fixture.Boards.Get(new LeaderboardDefinition("speedrun") { Windows = LeaderboardWindows.Daily });

        Assert.True(await board.SetScoreAsync("alice", 90.5, ScoreUpdate.OnlyIfLower));
        Assert.False(await board.SetScoreAsync("alice", 95, ScoreUpdate.OnlyIfLower));
        Assert.True(await board.SetScoreAsync("alice", 80.25, ScoreUpdate.OnlyIfLower));

        Assert.Equal(80.25, await board.GetScoreAsync("alice"));
        Assert.Equal(80.25, await board.Window(LeaderboardPeriod.Daily).GetScoreAsync("alice"));
    }

    [Fact]
    public async Task Increment_NewAndExistingMember_AddsAndReturnsNewScore()
    {
        await using var fixture = await BoardFixture.RedisAsync();
        var board = fixture.Boards.Get("game");

        Assert.Equal(5, await board.IncrementAsync("alice", 5));
        Assert.Equal(7.5, await board.IncrementAsync("alice", 2.5));
        Assert.Equal(7.5, await board.GetScoreAsync("alice"));
    }

    [Fact]
    public async Task Remove_Member_IsGoneFromBoard()
    {
        await using var fixture = await BoardFixture.RedisAsync();
        var board = await SeedAsync(fixture, "game", ("alice", 1), ("bob", 2));

        Assert.True(await board.RemoveAsync("alice"));
        Assert.False(await board.RemoveAsync("alice"));

        Assert.Null(await board.GetScoreAsync("alice"));
        Assert.Null(await board.GetRankAsync("alice"));
        Assert.Equal(1, await board.GetCountAsync());
    }

    [Fact]
    public async Task Reads_SeededBoard_ReturnRanksHighestFirst()
    {
        await using var fixture = await BoardFixture.RedisAsync();
        var board = await SeedAsync(fixture, "game", ("a", 10), ("b", 50), ("c", 30), ("d", 40), ("e", 20));

        Assert.Equal(1, await board.GetRankAsync("b"));
        Assert.Equal(5, await board.GetRankAsync("a"));
        Assert.Null(await board.GetRankAsync("nobody"));
        Assert.Equal(new LeaderboardEntry("c", 30, 3), await board.GetEntryAsync("c"));
        Assert.Equal(5, await board.GetCountAsync());

        var top = await board.GetTopAsync(3);
        Assert.Equal([new("b", 50, 1), new("d", 40, 2), new("c", 30, 3)], top);

        var page2 = await board.GetPageAsync(2, 2);
        Assert.Equal([new("c", 30, 3), new("e", 20, 4)], page2);
        Assert.Empty(await board.GetPageAsync(4, 2));

        var around = await board.GetAroundAsync("c", 1);
        Assert.Equal([new("d", 40, 2), new("c", 30, 3), new("e", 20, 4)], around);
        Assert.Equal([new("b", 50, 1), new("d", 40, 2)], await board.GetAroundAsync("b", 1));
        Assert.Empty(await board.GetAroundAsync("nobody", 1));

        var range = await board.GetByScoreAsync(15, 40, limit: 10);
        Assert.Equal([new("d", 40, 2), new("c", 30, 3), new("e", 20, 4)], range);
        Assert.Equal([new("b", 50, 1), new("d", 40, 2)], await board.GetByScoreAsync(double.NegativeInfinity, double.PositiveInfinity, limit: 2));
    }

    [Fact]
    public async Task Percentile_DistinctAndTiedScores_CountsStrictlyLowerMembers()
    {
        await using var fixture = await BoardFixture.RedisAsync();
        var board = await SeedAsync(fixture, "game", ("a", 10), ("b", 20), ("c", 20), ("d", 40));

        Assert.Equal(0, await board.GetPercentileAsync("a"));
        Assert.Equal(25, await board.GetPercentileAsync("b"));
        Assert.Equal(25, await board.GetPercentileAsync("c"));
        Assert.Equal(75, await board.GetPercentileAsync("d"));
        Assert.Null(await board.GetPercentileAsync("nobody"));
    }

    [Fact]
    public async Task RankMembers_Friends_ReturnsGlobalRanksBestFirstSkippingUnknown()
    {
        await using var fixture = await BoardFixture.RedisAsync();
        var board = await SeedAsync(fixture, "game", ("a", 10), ("b", 50), ("c", 30), ("d", 40), ("e", 20));

        var friends = await board.RankMembersAsync(["e", "nobody", "b", "c", "e"]);

        Assert.Equal([new("b", 50, 1), new("c", 30, 3), new("e", 20, 4)], friends);
        Assert.Empty(await board.RankMembersAsync([]));
    }

    [Fact]
    public async Task BadInputs_ThrowArgumentExceptions()
    {
        await using var fixture = await BoardFixture.RedisAsync(o => o.MaxMemberLength = 16);
        var board = fixture.Boards.Get("game");

        Assert.Throws<ArgumentException>(() => { _ = board.SetScoreAsync("a", double.NaN); });
        Assert.Throws<ArgumentException>(() => { _ = board.SetScoreAsync("a", double.PositiveInfinity); });
        Assert.Throws<ArgumentException>(() => { _ = board.IncrementAsync("a", double.NegativeInfinity); });
        Assert.Throws<ArgumentException>(() => { _ = board.SetScoreAsync("", 1); });
        Assert.Throws<ArgumentException>(() => { _ = board.SetScoreAsync(new string('x', 17), 1); });
        Assert.Throws<ArgumentException>(() => { _ = board.SetScoreAsync("ééééééééé", 1); }); // 18 UTF-8 bytes
        Assert.Throws<ArgumentException>(() => { _ = board.RankMembersAsync(["ok", new string('x', 17)]); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = board.GetTopAsync(0); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = board.GetTopAsync(1001); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = board.GetPageAsync(0, 10); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = board.GetPageAsync(1, 0); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = board.GetAroundAsync("a", -1); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = board.GetAroundAsync("a", 500); });
        Assert.Throws<ArgumentException>(() => { _ = board.GetByScoreAsync(double.NaN, 1, 10); });
        Assert.Throws<ArgumentException>(() => { _ = board.GetByScoreAsync(5, 1, 10); });
        Assert.Throws<ArgumentException>(() => board.Window(LeaderboardPeriod.Daily));
        Assert.Throws<RedisKeyTooLongException>(() => fixture.Boards.Get(new string('b', 2000)));

        // Nothing reached Redis.
        Assert.Equal(0, await board.GetCountAsync());
    }

    [Fact]
    public async Task Reads_OnCluster_WorkAcrossManyBoards()
    {
        await using var fixture = await BoardFixture.ClusterAsync(o => o.Ranking = LeaderboardRanking.StandardCompetition);

        // Boards spread over every primary; each board's keys share its hash tag.
        for (var i = 0; i < 12; i++)
        {
            var board = fixture.Boards.Get(new LeaderboardDefinition("game-" + i) { Windows = LeaderboardWindows.Daily | LeaderboardWindows.Weekly | LeaderboardWindows.Monthly });
            await board.SetScoreAsync("a", 10);
            await board.SetScoreAsync("b", 20, ScoreUpdate.OnlyIfHigher);
            await board.IncrementAsync("c", 10);

            Assert.Equal([new("b", 20, 1), new("c", 10, 2), new("a", 10, 2)], await board.GetTopAsync(10));
            Assert.Equal([new("b", 20, 1), new("c", 10, 2)], await board.Window(LeaderboardPeriod.Weekly).RankMembersAsync(["c", "b"]));
            Assert.Equal(3, (await board.GetAroundAsync("a", 2)).Count);
            Assert.True(await board.RemoveAsync("a"));
            Assert.Equal(2, await board.Window(LeaderboardPeriod.Monthly).GetCountAsync());
        }
    }

    [Fact]
    public async Task Reads_RedisStopped_ThrowRedisConnectionException()
    {
        await using var server = await Testing.RedisServerProcess.StartAsync();
        await using var fixture = BoardFixture.Create(server.ConnectionString);
        var board = fixture.Boards.Get("game");
        await board.SetScoreAsync("alice", 1);

        await server.StopAsync();

        await Assert.ThrowsAsync<RedisConnectionException>(() => board.GetTopAsync(10));
        await Assert.ThrowsAsync<RedisConnectionException>(() => board.SetScoreAsync("alice", 2));
        await Assert.ThrowsAsync<RedisConnectionException>(() => board.GetAroundAsync("alice", 2));

        await server.StartAgainAsync();
        await TestHost.EventuallyAsync(() => board.SetScoreAsync("alice", 3), TimeSpan.FromSeconds(10));
        Assert.Equal([new LeaderboardEntry("alice", 3, 1)], await board.GetTopAsync(10));
    }
}

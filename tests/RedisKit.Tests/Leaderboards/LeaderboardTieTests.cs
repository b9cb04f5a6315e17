using Microsoft.Extensions.Time.Testing;
using RedisKit.Leaderboards;

namespace RedisKit.Tests.Leaderboards;

public class LeaderboardTieTests
{
    // a and b tie at 100, c has 90, d and e tie at 80, f has 70.
    private static readonly (string, double)[] Scores = [("a", 100), ("b", 100), ("c", 90), ("d", 80), ("e", 80), ("f", 70)];

    private static async Task<Leaderboard> SeedAsync(BoardFixture fixture, LeaderboardRanking ranking)
    {
        var board = fixture.Boards.Get(new LeaderboardDefinition("ties") { Ranking = ranking });
        foreach (var (member, score) in Scores)
        {
            await board.SetScoreAsync(member, score);
        }

        return board;
    }

    private static string Ranks(IEnumerable<LeaderboardEntry> entries) => string.Join(" ", entries.Select(e => $"{e.Member}{e.Rank}"));

    [Fact]
    public async Task Ordinal_EqualScores_OrderedByMemberDescendingWithDistinctRanks()
    {
        await using var fixture = await BoardFixture.RedisAsync();
        var board = await SeedAsync(fixture, LeaderboardRanking.Ordinal);

        Assert.Equal("b1 a2 c3 e4 d5 f6", Ranks(await board.GetTopAsync(10)));
        Assert.Equal(2, await board.GetRankAsync("a"));
        Assert.Equal("c3 e4", Ranks(await board.GetPageAsync(2, 2)));
        Assert.Equal("c3 e4 d5", Ranks(await board.GetAroundAsync("e", 1)));
        Assert.Equal("b1 a2", Ranks(await board.GetByScoreAsync(100, 100, 10)));
    }

    [Fact]
    public async Task StandardCompetition_EqualScores_ShareRankAndNextSkips()
    {
        await using var fixture = await BoardFixture.RedisAsync();
        var board = await SeedAsync(fixture, LeaderboardRanking.StandardCompetition);

        Assert.Equal("b1 a1 c3 e4 d4 f6", Ranks(await board.GetTopAsync(10)));
        Assert.Equal(1, await board.GetRankAsync("a"));
        Assert.Equal(4, await board.GetRankAsync("d"));

        // A page that starts in the middle of a tie still gets the tie's rank.
        Assert.Equal("a1", Ranks(await board.GetPageAsync(2, 1)));
        Assert.Equal("d4 f6", Ranks(await board.GetPageAsync(3, 2)));
        Assert.Equal("e4 d4 f6", Ranks(await board.GetAroundAsync("d", 1)));
        Assert.Equal("e4 d4", Ranks(await board.GetByScoreAsync(75, 85, 10)));
        Assert.Equal("b1 d4", Ranks(await board.RankMembersAsync(["d", "b"])));
    }

    [Fact]
    public async Task Dense_EqualScores_ShareRankAndNextDoesNotSkip()
    {
        await using var fixture = await BoardFixture.RedisAsync();
        var board = await SeedAsync(fixture, LeaderboardRanking.Dense);

        Assert.Equal("b1 a1 c2 e3 d3 f4", Ranks(await board.GetTopAsync(10)));
        Assert.Equal(3, await board.GetRankAsync("d"));
        Assert.Equal(4, await board.GetRankAsync("f"));
        Assert.Equal("a1", Ranks(await board.GetPageAsync(2, 1)));
        Assert.Equal("d3 f4", Ranks(await board.GetPageAsync(3, 2)));
        Assert.Equal("c2 e3 d3", Ranks(await board.GetAroundAsync("e", 1)));
        Assert.Equal("f4", Ranks(await board.GetByScoreAsync(0, 75, 10)));
    }

    [Fact]
    public async Task EarlierAchiever_EqualScores_FirstToReachRanksHigher()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var fixture = await BoardFixture.RedisAsync(o => o.EarlierAchieverWins = true, time);
        var board = fixture.Boards.Get("race");

        await board.SetScoreAsync("zed", 100);              // reaches 100 first
        time.Advance(TimeSpan.FromSeconds(5));
        await board.SetScoreAsync("amy", 100);              // same score, later: "amy" would win on member order
        await board.SetScoreAsync("bob", 90, achievedAt: time.GetUtcNow().AddHours(-1));
        time.Advance(TimeSpan.FromSeconds(5));
        await board.SetScoreAsync("cat", 101);

        Assert.Equal("cat1 zed2 amy3 bob4", Ranks(await board.GetTopAsync(10)));
        Assert.Equal([100.0, 100.0], (await board.GetByScoreAsync(100, 100, 10)).Select(e => e.Score));
        Assert.Equal(100, await board.GetScoreAsync("amy"));

        // A later equal score does not replace the earlier one under OnlyIfHigher; a higher one does.
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(await board.SetScoreAsync("zed", 100, ScoreUpdate.OnlyIfHigher));
        Assert.Equal(2, await board.GetRankAsync("zed"));

        // Increments keep the score part exact and stamp the new time.
        Assert.Equal(102, await board.IncrementAsync("bob", 12));
        Assert.Equal(1, await board.GetRankAsync("bob"));
        Assert.Equal(50, await board.GetPercentileAsync("cat"));
    }

    [Fact]
    public async Task EarlierAchiever_WithCompetitionRanking_TiesShareRankButKeepTimeOrder()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var fixture = await BoardFixture.RedisAsync(o => o.EarlierAchieverWins = true, time);
        var board = fixture.Boards.Get(new LeaderboardDefinition("race") { Ranking = LeaderboardRanking.StandardCompetition });
        var dense = fixture.Boards.Get(new LeaderboardDefinition("race") { Ranking = LeaderboardRanking.Dense });

        await board.SetScoreAsync("zed", 100);
        time.Advance(TimeSpan.FromSeconds(1));
        await board.SetScoreAsync("amy", 100);
        await board.SetScoreAsync("bob", 50);
        time.Advance(TimeSpan.FromSeconds(1));
        await board.SetScoreAsync("cat", 50);

        Assert.Equal("zed1 amy1 bob3 cat3", Ranks(await board.GetTopAsync(10)));
        Assert.Equal("zed1 amy1 bob2 cat2", Ranks(await dense.GetTopAsync(10)));
        Assert.Equal(3, await board.GetRankAsync("cat"));
        Assert.Equal(2, await dense.GetRankAsync("cat"));
    }

    [Fact]
    public async Task EarlierAchiever_OutOfRangeInputs_ThrowArgumentExceptions()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var fixture = await BoardFixture.RedisAsync(o => o.EarlierAchieverWins = true, time);
        var board = fixture.Boards.Get("race");
        var max = Math.Pow(2, 21) - 1; // 53 - 32 bits

        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = board.SetScoreAsync("a", 1.5); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = board.SetScoreAsync("a", max + 1); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = board.SetScoreAsync("a", 1, achievedAt: new DateTimeOffset(2024, 12, 31, 0, 0, 0, TimeSpan.Zero)); });

        Assert.True(await board.SetScoreAsync("a", max));
        Assert.Equal(max, await board.GetScoreAsync("a"));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => board.IncrementAsync("a", 1));
        Assert.Equal(max, await board.GetScoreAsync("a"));

        Assert.True(await board.SetScoreAsync("b", -max));
        Assert.Equal(-max, await board.GetScoreAsync("b"));
    }

    [Fact]
    public async Task Ties_OnCluster_CompetitionAndDenseMatchStandalone()
    {
        await using var fixture = await BoardFixture.ClusterAsync();
        var competition = await SeedAsync(fixture, LeaderboardRanking.StandardCompetition);
        var dense = fixture.Boards.Get(new LeaderboardDefinition("ties") { Ranking = LeaderboardRanking.Dense });

        Assert.Equal("b1 a1 c3 e4 d4 f6", Ranks(await competition.GetTopAsync(10)));
        Assert.Equal("b1 a1 c2 e3 d3 f4", Ranks(await dense.GetTopAsync(10)));
        Assert.Equal("c2 e3 d3", Ranks(await dense.GetAroundAsync("e", 1)));
    }
}

using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.Leaderboards;
using StackExchange.Redis;

namespace RedisKit.Benchmarks.Leaderboards;

/// <summary>
/// Top-10, rank and around-me on a 1,000,000-member board: RedisKit against the plain StackExchange.Redis
/// calls an application would write (ZREVRANGE WITH SCORES, ZREVRANK, and ZREVRANK + ZREVRANGE for
/// around-me, which takes two round trips without a script). One baseline per category.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LeaderboardBenchmarks
{
    private const int Members = 1_000_000;
    private const string Me = "player-500000";
    private ConnectionMultiplexer _multiplexer = null!;
    private IDatabase _database = null!;
    private ServiceProvider _provider = null!;
    private Leaderboard _board = null!;
    private Leaderboard _competition = null!;
    private RedisKey _key;

    [GlobalSetup]
    public void Setup()
    {
        var connectionString = BenchmarkServer.ConnectionString();
        var configuration = ConfigurationOptions.Parse(connectionString);
        configuration.AsyncTimeout = 60_000;
        configuration.SyncTimeout = 60_000;
        _multiplexer = ConnectionMultiplexer.Connect(configuration);
        _database = _multiplexer.GetDatabase();

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddRedisKit(o =>
        {
            o.ConnectionString = connectionString;
            o.KeyPrefix = "bench";
        }).AddLeaderboards();
        _provider = services.BuildServiceProvider();
        var boards = _provider.GetRequiredService<ILeaderboards>();
        _board = boards.Get("global");
        _competition = boards.Get(new LeaderboardDefinition("global") { Ranking = LeaderboardRanking.StandardCompetition });
        _key = _board.Key;

        // 1,000,000 members with scores 0..99,999 (about 10 per score, so ties exist), pipelined in batches.
        _database.KeyDelete(_key);
        var random = new Random(42);
        const int batch = 1000;
        var pending = new List<Task>();
        for (var start = 0; start < Members; start += batch)
        {
            if (pending.Count == 50)
            {
                Task.WaitAll([.. pending]);
                pending.Clear();
            }

            var entries = new SortedSetEntry[batch];
            for (var i = 0; i < batch; i++)
            {
                entries[i] = new SortedSetEntry("player-" + (start + i), random.Next(0, 100_000));
            }

            pending.Add(_database.SortedSetAddAsync(_key, entries));
        }

        Task.WaitAll([.. pending]);
        if (_database.SortedSetLength(_key) != Members)
        {
            throw new InvalidOperationException("The board was not seeded.");
        }

        // Warm the script cache and the capability probe.
        _board.GetAroundAsync(Me, 5).GetAwaiter().GetResult();
        _competition.GetRankAsync(Me).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _provider.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _multiplexer.Dispose();
        BenchmarkServer.Stop();
    }

    [BenchmarkCategory("Top10"), Benchmark(Baseline = true)]
    public Task<SortedSetEntry[]> Raw_ZRevRangeWithScores() => _database.SortedSetRangeByRankWithScoresAsync(_key, 0, 9, Order.Descending);

    [BenchmarkCategory("Top10"), Benchmark]
    public Task<IReadOnlyList<LeaderboardEntry>> RedisKit_Top10() => _board.GetTopAsync(10);

    [BenchmarkCategory("Top10"), Benchmark]
    public Task<IReadOnlyList<LeaderboardEntry>> RedisKit_Top10_Competition() => _competition.GetTopAsync(10);

    [BenchmarkCategory("Rank"), Benchmark(Baseline = true)]
    public Task<long?> Raw_ZRevRank() => _database.SortedSetRankAsync(_key, Me, Order.Descending);

    [BenchmarkCategory("Rank"), Benchmark]
    public Task<long?> RedisKit_Rank() => _board.GetRankAsync(Me);

    [BenchmarkCategory("Rank"), Benchmark]
    public Task<long?> RedisKit_Rank_Competition() => _competition.GetRankAsync(Me);

    [BenchmarkCategory("AroundMe"), Benchmark(Baseline = true)]
    public async Task<SortedSetEntry[]> Raw_ZRevRankThenZRevRange()
    {
        var index = await _database.SortedSetRankAsync(_key, Me, Order.Descending);
        var start = Math.Max(0, index!.Value - 5);
        return await _database.SortedSetRangeByRankWithScoresAsync(_key, start, index.Value + 5, Order.Descending);
    }

    [BenchmarkCategory("AroundMe"), Benchmark]
    public Task<IReadOnlyList<LeaderboardEntry>> RedisKit_AroundMe() => _board.GetAroundAsync(Me, 5);

    [BenchmarkCategory("AroundMe"), Benchmark]
    public Task<IReadOnlyList<LeaderboardEntry>> RedisKit_AroundMe_Competition() => _competition.GetAroundAsync(Me, 5);
}

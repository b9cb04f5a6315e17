using System.Globalization;
using RedisKit.Samples.Shop.Infrastructure;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Features;

public sealed record SubmitScore(string? Player, double? Score);

public sealed record LeaderboardEntry(long Rank, string Player, double Score);

public sealed record ScoreResult(string Board, string Player, double Score, long Rank, bool Improved);

public sealed record PlayerStanding(string Board, string Player, long Rank, double Score, IReadOnlyList<LeaderboardEntry> Neighbours);

/// <summary>
/// Leaderboards as plain sorted sets: ZADD GT keeps a player's best score, ranks are 1-based and
/// highest-first. Ties are ordered by player name (the sorted set's own order).
/// </summary>
// Capability seam: replaced by RedisKit leaderboards when merged
public static class Games
{
    public const int MaxTop = 100;
    public const int NeighbourCount = 2;

    public static IEndpointRouteBuilder MapGames(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/games/{board}").WithTags("Games").RequireApiRateLimit();

        group.MapPost("/scores", SubmitAsync)
            .WithSummary("Records a score; the board keeps each player's best.")
            .ProducesValidationProblem();
        group.MapGet("/leaderboard", LeaderboardAsync)
            .WithSummary("The top N (1-100, default 10), highest first.")
            .ProducesValidationProblem();
        group.MapGet("/players/{player}", PlayerAsync)
            .WithSummary("A player's rank, score and the players around them.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return routes;
    }

    private static bool ValidBoard(string board) =>
        board.Length is > 0 and <= 32 && board.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static bool ValidPlayer(string? player) =>
        !string.IsNullOrWhiteSpace(player) && player.Length <= 64 && !player.Any(char.IsControl);

    private static RedisKey BoardKey(IRedisConnection redis, string board) => redis.Keys.Key("sample", "board", board.ToLowerInvariant());

    private static async Task<IResult> SubmitAsync(string board, SubmitScore body, HttpContext http, IRedisConnection redis)
    {
        var errors = new Problems.Errors()
            .Require(ValidBoard(board), "board", "'board' must be 1-32 letters, digits, '-' or '_'.")
            .Require(ValidPlayer(body.Player), "player", "'player' is required, at most 64 characters.")
            .Require(body.Score is { } s && double.IsFinite(s) && Math.Abs(s) <= 1e15, "score", "'score' is required: a finite number within ±1e15.");
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var db = await redis.GetDatabaseAsync(http.RequestAborted);
        var key = BoardKey(redis, board);
        var player = body.Player!.Trim();
        await db.SortedSetAddAsync(key, player, body.Score!.Value, SortedSetWhen.GreaterThan);
        var best = await db.SortedSetScoreAsync(key, player) ?? body.Score.Value;
        var rank = await db.SortedSetRankAsync(key, player, Order.Descending) ?? 0;
        return TypedResults.Ok(new ScoreResult(board, player, best, rank + 1, best == body.Score.Value));
    }

    private static async Task<IResult> LeaderboardAsync(string board, string? top, HttpContext http, IRedisConnection redis)
    {
        var errors = new Problems.Errors().Require(ValidBoard(board), "board", "'board' must be 1-32 letters, digits, '-' or '_'.");
        Problems.TryBound(top, "top", 10, 1, MaxTop, errors, out var count);
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var db = await redis.GetDatabaseAsync(http.RequestAborted);
        var entries = await db.SortedSetRangeByRankWithScoresAsync(BoardKey(redis, board), 0, count - 1, Order.Descending);
        return TypedResults.Ok(entries.Select((e, i) => new LeaderboardEntry(i + 1, e.Element.ToString(), e.Score)).ToList());
    }

    private static async Task<IResult> PlayerAsync(string board, string player, HttpContext http, IRedisConnection redis)
    {
        var errors = new Problems.Errors()
            .Require(ValidBoard(board), "board", "'board' must be 1-32 letters, digits, '-' or '_'.")
            .Require(ValidPlayer(player), "player", "'player' must be at most 64 characters.");
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var db = await redis.GetDatabaseAsync(http.RequestAborted);
        var key = BoardKey(redis, board);
        var score = await db.SortedSetScoreAsync(key, player);
        var rank = await db.SortedSetRankAsync(key, player, Order.Descending);
        if (score is null || rank is null)
        {
            return Problems.NotFound($"Player '{player}' has no score on board '{board}'.");
        }

        var from = Math.Max(0, rank.Value - NeighbourCount);
        var around = await db.SortedSetRangeByRankWithScoresAsync(key, from, rank.Value + NeighbourCount, Order.Descending);
        var neighbours = around
            .Select((e, i) => new LeaderboardEntry(from + i + 1, e.Element.ToString(), e.Score))
            .Where(e => e.Player != player)
            .ToList();
        return TypedResults.Ok(new PlayerStanding(board, player, rank.Value + 1, score.Value, neighbours));
    }
}

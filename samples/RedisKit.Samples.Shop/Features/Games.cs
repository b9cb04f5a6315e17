using System.Globalization;
using RedisKit.Samples.Shop.Infrastructure;
using RedisKit.Leaderboards;

namespace RedisKit.Samples.Shop.Features;

public sealed record SubmitScore(string? Player, double? Score);

public sealed record LeaderboardEntry(long Rank, string Player, double Score);

public sealed record ScoreResult(string Board, string Player, double Score, long Rank, bool Improved);

public sealed record PlayerStanding(string Board, string Player, long Rank, double Score, IReadOnlyList<LeaderboardEntry> Neighbours);

/// <summary>
/// Game boards on RedisKit leaderboards: a submission keeps each player's best score (ZADD GT, one
/// round trip), ranks are 1-based and highest-first, ties follow the leaderboard's documented default
/// order (docs/leaderboards.md), and around-me is one round trip.
/// </summary>
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

    private static Leaderboard Board(ILeaderboards boards, string board) => boards.Get("game-" + board.ToLowerInvariant());

    private static async Task<IResult> SubmitAsync(string board, SubmitScore body, HttpContext http, ILeaderboards boards)
    {
        var errors = new Problems.Errors()
            .Require(ValidBoard(board), "board", "'board' must be 1-32 letters, digits, '-' or '_'.")
            .Require(ValidPlayer(body.Player), "player", "'player' is required, at most 64 characters.")
            .Require(body.Score is { } s && double.IsFinite(s) && Math.Abs(s) <= 1e15, "score", "'score' is required: a finite number within ±1e15.");
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var leaderboard = Board(boards, board);
        var player = body.Player!.Trim();
        var improved = await leaderboard.SetScoreAsync(player, body.Score!.Value, ScoreUpdate.OnlyIfHigher, cancellationToken: http.RequestAborted);
        var entry = await leaderboard.GetEntryAsync(player, http.RequestAborted);
        return TypedResults.Ok(new ScoreResult(board, player, entry?.Score ?? body.Score.Value, entry?.Rank ?? 0, improved));
    }

    private static async Task<IResult> LeaderboardAsync(string board, string? top, HttpContext http, ILeaderboards boards)
    {
        var errors = new Problems.Errors().Require(ValidBoard(board), "board", "'board' must be 1-32 letters, digits, '-' or '_'.");
        Problems.TryBound(top, "top", 10, 1, MaxTop, errors, out var count);
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var entries = await Board(boards, board).GetTopAsync(count, http.RequestAborted);
        return TypedResults.Ok(entries.Select(e => new LeaderboardEntry(e.Rank, e.Member, e.Score)).ToList());
    }

    private static async Task<IResult> PlayerAsync(string board, string player, HttpContext http, ILeaderboards boards)
    {
        var errors = new Problems.Errors()
            .Require(ValidBoard(board), "board", "'board' must be 1-32 letters, digits, '-' or '_'.")
            .Require(ValidPlayer(player), "player", "'player' must be at most 64 characters.");
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var leaderboard = Board(boards, board);
        var entry = await leaderboard.GetEntryAsync(player, http.RequestAborted);
        if (entry is null)
        {
            return Problems.NotFound($"Player '{player}' has no score on board '{board}'.");
        }

        var around = await leaderboard.GetAroundAsync(player, NeighbourCount, http.RequestAborted);
        var neighbours = around
            .Where(e => e.Member != player)
            .Select(e => new LeaderboardEntry(e.Rank, e.Member, e.Score))
            .ToList();
        return TypedResults.Ok(new PlayerStanding(board, player, entry.Rank, entry.Score, neighbours));
    }
}

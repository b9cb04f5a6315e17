using Microsoft.Extensions.Logging;

namespace RedisKit.Leaderboards;

internal static partial class LeaderboardsLog
{
    [LoggerMessage(EventId = 7000, Level = LogLevel.Warning, Message = "Leaderboards run on Garnet ({Server}): ZREVRANK and ranked ZRANGE are O(N) there, so ranks, pages and around-me reads slow down as boards grow; use Redis for large boards")]
    public static partial void GarnetRanksAreLinear(ILogger logger, string server);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Debug, Message = "Leaderboards could not check the server engine at start (Redis unreachable); the Garnet check is skipped")]
    public static partial void EngineCheckSkipped(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Debug, Message = "Leaderboard {Operation} failed")]
    public static partial void OperationFailed(ILogger logger, string operation, Exception exception);
}

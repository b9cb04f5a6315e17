using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit.Leaderboards;

/// <summary>
/// Entry point of leaderboards: hands out boards by name and merges boards. Registered by
/// <c>AddLeaderboards()</c> as a singleton.
/// </summary>
public interface ILeaderboards
{
    /// <summary>The board <paramref name="name"/> with the default settings of <see cref="LeaderboardsOptions"/>. No round trip.</summary>
    Leaderboard Get(string name);

    /// <summary>The board described by <paramref name="definition"/> (unset settings take the defaults). No round trip.</summary>
    /// <exception cref="ArgumentException">The name or group would make a key longer than <see cref="RedisKitOptions.MaxKeyLength"/>.</exception>
    Leaderboard Get(LeaderboardDefinition definition);

    /// <summary>
    /// Replaces <paramref name="destination"/>'s all-time board with the union of <paramref name="sources"/>
    /// (ZUNIONSTORE … AGGREGATE), optionally expiring it. One round trip (one script). On Redis Cluster
    /// all boards must share a <see cref="LeaderboardDefinition.Group"/> (one hash slot).
    /// </summary>
    /// <returns>The destination's member count.</returns>
    /// <exception cref="ArgumentException">No sources; <see cref="LeaderboardAggregate.Sum"/> on an earlier-achiever board; boards with different score layouts; or different groups on a cluster.</exception>
    Task<long> MergeAsync(Leaderboard destination, IEnumerable<LeaderboardView> sources, LeaderboardAggregate aggregate = LeaderboardAggregate.Sum, TimeSpan? expiry = null, CancellationToken cancellationToken = default);
}

/// <summary>The default <see cref="ILeaderboards"/>.</summary>
internal sealed class Leaderboards : ILeaderboards
{
    private readonly LeaderboardContext _context;

    public Leaderboards(IRedisConnection connection, IOptions<LeaderboardsOptions> options, LeaderboardInstruments instruments, ILogger<Leaderboards> logger, TimeProvider time)
    {
        _context = new LeaderboardContext(connection, options.Value, instruments, logger, time);
    }

    public Leaderboard Get(string name) => Get(new LeaderboardDefinition(name));

    public Leaderboard Get(LeaderboardDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var options = _context.Options;
        var windows = definition.Windows ?? options.Windows;
        if ((windows & ~(LeaderboardWindows.Daily | LeaderboardWindows.Weekly | LeaderboardWindows.Monthly)) != 0)
        {
            throw new ArgumentException("Windows must combine Daily, Weekly and Monthly only.", nameof(definition));
        }

        var spec = new LeaderboardSpec(
            definition.Name,
            string.IsNullOrEmpty(definition.Group) ? definition.Name : definition.Group,
            definition.Ranking ?? options.Ranking,
            windows,
            definition.EarlierAchieverWins ?? options.EarlierAchieverWins ? new CompositeScore(options.TieBreakTimeBits, options.TieBreakEpoch) : null);
        return new Leaderboard(_context, spec);
    }

    public Task<long> MergeAsync(Leaderboard destination, IEnumerable<LeaderboardView> sources, LeaderboardAggregate aggregate = LeaderboardAggregate.Sum, TimeSpan? expiry = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(sources);
        var list = sources.ToArray();
        if (list.Length == 0)
        {
            throw new ArgumentException("Merge needs at least one source board.", nameof(sources));
        }

        if (expiry is { } e && e <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(expiry), expiry, "The expiry must be positive.");
        }

        foreach (var source in list)
        {
            if (source.Spec.Composite?.Bits != destination.Spec.Composite?.Bits)
            {
                throw new ArgumentException($"Boards '{source.Name}' and '{destination.Name}' store scores differently (earlier-achiever layout); they cannot be merged.", nameof(sources));
            }
        }

        if (destination.Spec.Composite is not null && aggregate == LeaderboardAggregate.Sum)
        {
            throw new ArgumentException("Earlier-achiever boards merge with Min or Max only: a sum would add the time parts of the composite scores.", nameof(aggregate));
        }

        var keys = new RedisKey[list.Length + 1];
        keys[0] = destination.Key;
        for (var i = 0; i < list.Length; i++)
        {
            keys[i + 1] = list[i].Key;
        }

        var aggregateName = aggregate switch
        {
            LeaderboardAggregate.Sum => "SUM",
            LeaderboardAggregate.Min => "MIN",
            LeaderboardAggregate.Max => "MAX",
            _ => throw new ArgumentOutOfRangeException(nameof(aggregate), aggregate, "Unknown aggregate."),
        };

        return MergeCoreAsync(destination, list, keys, aggregateName, expiry, cancellationToken);
    }

    private async Task<long> MergeCoreAsync(Leaderboard destination, LeaderboardView[] sources, RedisKey[] keys, string aggregate, TimeSpan? expiry, CancellationToken cancellationToken)
    {
        var capabilities = await _context.Connection.GetCapabilitiesAsync(cancellationToken).ConfigureAwait(false);
        if (capabilities.Topology == RedisTopology.Cluster && sources.Any(s => !string.Equals(s.Group, destination.Group, StringComparison.Ordinal)))
        {
            throw new ArgumentException("On Redis Cluster merged boards must share one Group (one hash slot); give them the same LeaderboardDefinition.Group.", nameof(sources));
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var db = await _context.Connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var ttl = expiry is { } t ? (long)Math.Ceiling(t.TotalMilliseconds) : 0;
            var result = (long)await LeaderboardContext.MergeScript.EvaluateAsync(db, keys, [aggregate, ttl]).WaitAsync(cancellationToken).ConfigureAwait(false);
            _context.Instruments.Record("merge", started, success: true);
            return result;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _context.Instruments.Record("merge", started, success: false);
            LeaderboardsLog.OperationFailed(_context.Logger, "merge", ex);
            throw;
        }
    }
}

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// The <see cref="IRedisLockProvider"/> over the shared connection. Disposing it (the container does, after the
/// host stopped) first waits for releases still in flight (see <see cref="LockingOptions.AwaitRelease"/>).
/// </summary>
internal sealed class RedisLockProvider : IRedisLockProvider, IAsyncDisposable, IDisposable
{
    public const string Capability = "lock";
    public const string RwCapability = "rwlock";
    public const string SemaphoreCapability = "semaphore";

    private static readonly RedisScript FencedWriteScript = RedisScript.FromResource("lock-fenced-write");
    private static readonly RedisValue[] FencedFields = ["value", "fence"];

    private readonly IRedisConnection _connection;
    private readonly LockEngine _engine;

    public RedisLockProvider(IRedisConnection connection, IOptions<LockingOptions> options, TimeProvider time, LockingMetrics metrics, ILogger logger)
    {
        _connection = connection;
        var settings = options.Value;
        RedisChannel? channel = null;
        if (settings.ReleaseNotifications)
        {
            channel = RedisChannel.Literal(connection.Keys.Key(Capability, "released").ToString());
        }

        _engine = new LockEngine(settings, time, metrics, logger, channel, connection.GetMultiplexerAsync);
    }

    public IRedisLock CreateLock(string name, RedisLockSettings? settings = null) =>
        new RedisLock(_engine, _connection, name, _engine.Resolve(settings));

    public IRedisReadWriteLock CreateReadWriteLock(string name, RedisLockSettings? settings = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new RedisReadWriteLock(_engine, _connection, name, _engine.Resolve(settings));
    }

    public IRedisSemaphore CreateSemaphore(string name, int maxCount, RedisLockSettings? settings = null) =>
        new RedisSemaphore(_engine, _connection, name, maxCount, _engine.Resolve(settings));

    public async Task<bool> FencedWriteAsync(RedisKey key, RedisValue value, long fencingToken, TimeSpan? expiry = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fencingToken);
        var database = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var expiryMs = expiry is { } e ? Math.Max(1, (long)e.TotalMilliseconds) : 0;
        var result = await FencedWriteScript.EvaluateAsync(database, [key], [value, fencingToken, expiryMs]).ConfigureAwait(false);
        return (long)result == 1;
    }

    public async Task<(RedisValue Value, long FencingToken)> FencedReadAsync(RedisKey key, CancellationToken cancellationToken = default)
    {
        var database = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var values = await database.HashGetAsync(key, FencedFields).ConfigureAwait(false);
        return (values[0], values[1].IsNull ? 0 : (long)values[1]);
    }

    /// <summary>Completes when every release written so far has been answered or has failed.</summary>
    public Task FlushReleasesAsync(CancellationToken cancellationToken = default) => _engine.FlushReleasesAsync(cancellationToken);

    /// <summary>How many callers of this process are queued for the exclusive lock <paramref name="name"/> (tests and diagnostics).</summary>
    internal int QueuedWaiters(string name) => _engine.QueuedWaiters(_connection.Keys.TaggedKey(Capability, name, "owner").ToString());

    public async ValueTask DisposeAsync()
    {
        // Each pending release ends with its reply or the client's timeout, so this wait is bounded.
        await _engine.FlushReleasesAsync().ConfigureAwait(false);
        _engine.Dispose();
    }

    public void Dispose()
    {
        // Synchronous disposal (a container disposed with Dispose()): wait, bounded, for pending releases; their
        // replies are completed by the client's own threads, so blocking here cannot deadlock on them.
        _engine.FlushReleasesAsync().Wait(FlushTimeout);
        _engine.Dispose();
    }

    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(10);
}

using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>Receives batches from a write-behind queue and stores them in the primary database.</summary>
public interface IWriteBehindSink<T>
{
    /// <summary>
    /// Stores <paramref name="items"/>. Delivery is at-least-once: after a crash a batch may be delivered
    /// again, so make the write idempotent (upsert, or add with a unique key). Throwing leaves the batch
    /// queued for a retry.
    /// </summary>
    Task WriteBatchAsync(IReadOnlyList<T> items, CancellationToken cancellationToken);
}

/// <summary>A durable queue in Redis, drained in batches to an <see cref="IWriteBehindSink{T}"/> by a hosted worker.</summary>
public interface IWriteBehindQueue<T>
{
    /// <summary>Queues an item (one LPUSH). Throws the Redis exception when Redis is down: nothing was queued.</summary>
    ValueTask EnqueueAsync(T item, CancellationToken cancellationToken = default);

    /// <summary>Items waiting (not yet claimed by a worker). One LLEN.</summary>
    ValueTask<long> GetLengthAsync(CancellationToken cancellationToken = default);

    /// <summary>Items moved to the dead-letter list after <see cref="WriteBehindOptions.MaxAttempts"/> failures. One LLEN.</summary>
    ValueTask<long> GetDeadLetterLengthAsync(CancellationToken cancellationToken = default);
}

/// <summary>Settings of one write-behind queue.</summary>
public sealed class WriteBehindOptions
{
    /// <summary>The largest batch handed to the sink.</summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>How long the worker waits when the queue is empty before looking again.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How long a worker's claim on a batch lasts without renewal. A worker renews it while the sink runs;
    /// a worker that dies stops renewing, and after this its batch goes back to the queue.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a batch is offered to the sink before it moves to the dead-letter list.</summary>
    [Range(1, 1000)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>The first retry delay after a failed batch; doubled on each attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);
}

/// <summary>
/// The queue and its worker. Keys (one hash slot per queue, so every script is cluster-safe):
/// <c>{prefix}:wb:{name}:queue</c> (list), <c>:processing:{worker}</c> (list per worker),
/// <c>:workers</c> (zset of lease deadlines, server clock), <c>:dead</c> (list).
/// </summary>
internal sealed partial class WriteBehindQueue<T> : BackgroundService, IWriteBehindQueue<T>
{
    private const string Capability = "wb";
    private static readonly RedisScript ClaimScript = RedisScript.FromResource("writebehind-claim");
    private static readonly RedisScript AckScript = RedisScript.FromResource("writebehind-ack");
    private static readonly RedisScript ReclaimScript = RedisScript.FromResource("writebehind-reclaim");
    private static readonly RedisScript ExpiredScript = RedisScript.FromResource("writebehind-expired");

    private readonly string _name;
    private readonly IRedisConnection _connection;
    private readonly IRedisSerializer _serializer;
    private readonly IWriteBehindSink<T> _sink;
    private readonly WriteBehindOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _workerId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    public WriteBehindQueue(string name, IRedisConnection connection, IRedisSerializer serializer, IWriteBehindSink<T> sink, IOptionsMonitor<WriteBehindOptions> options, TimeProvider time, ILogger<WriteBehindQueue<T>> logger)
    {
        _name = name;
        _connection = connection;
        _serializer = serializer;
        _sink = sink;
        _options = options.Get(name);
        _time = time;
        _logger = logger;
    }

    private RedisKey Queue => _connection.Keys.TaggedKey(Capability, _name, "queue");

    private RedisKey Workers => _connection.Keys.TaggedKey(Capability, _name, "workers");

    private RedisKey Dead => _connection.Keys.TaggedKey(Capability, _name, "dead");

    private RedisKey Processing(string worker) => _connection.Keys.TaggedKey(Capability, _name, "processing", worker);

    // Keys that hold work must outlive any outage a deployment may have: a week.
    private static long RetentionMs => (long)TimeSpan.FromDays(7).TotalMilliseconds;

    public async ValueTask EnqueueAsync(T item, CancellationToken cancellationToken = default)
    {
        var database = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        await database.ListLeftPushAsync(Queue, _serializer.Serialize(item)).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<long> GetLengthAsync(CancellationToken cancellationToken = default)
    {
        var database = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return await database.ListLengthAsync(Queue).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<long> GetDeadLetterLengthAsync(CancellationToken cancellationToken = default)
    {
        var database = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return await database.ListLengthAsync(Dead).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var attempts = 0;
        var lastReclaim = long.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var database = await _connection.GetDatabaseAsync(stoppingToken).ConfigureAwait(false);
                if (lastReclaim == long.MinValue || _time.GetElapsedTime(lastReclaim) > _options.LeaseDuration / 2)
                {
                    await ReclaimDeadWorkersAsync(database).ConfigureAwait(false);
                    lastReclaim = _time.GetTimestamp();
                }

                var claimed = (RedisValue[])(await ClaimScript.EvaluateAsync(database, [Queue, Processing(_workerId), Workers], [_workerId, _options.BatchSize, (long)_options.LeaseDuration.TotalMilliseconds, RetentionMs]).ConfigureAwait(false))!;
                if (claimed.Length == 0)
                {
                    attempts = 0;
                    await Task.Delay(_options.PollInterval, _time, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                // Items were pushed on the left and moved from the right: oldest first after reversing.
                Array.Reverse(claimed);
                var items = new List<T>(claimed.Length);
                foreach (var raw in claimed)
                {
                    try
                    {
                        items.Add(_serializer.Deserialize<T>(((ReadOnlyMemory<byte>)raw).Span)!);
                    }
                    catch (RedisSerializationException ex)
                    {
                        LogCorruptItem(_logger, _name, ex);
                    }
                }

                attempts++;
                bool delivered;
                try
                {
                    using var heartbeat = StartHeartbeat(database, stoppingToken);
                    if (items.Count > 0)
                    {
                        await _sink.WriteBatchAsync(items, stoppingToken).ConfigureAwait(false);
                    }

                    delivered = true;
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogSinkFailed(_logger, _name, attempts, ex);
                    delivered = false;
                }

                if (delivered || attempts >= _options.MaxAttempts)
                {
                    if (!delivered)
                    {
                        LogDeadLettered(_logger, _name, claimed.Length);
                    }

                    await AckScript.EvaluateAsync(database, [Processing(_workerId), Dead], [delivered ? "0" : "1", RetentionMs]).ConfigureAwait(false);
                    attempts = 0;
                }
                else
                {
                    var backoff = _options.RetryDelay * Math.Pow(2, attempts - 1);
                    await Task.Delay(backoff, _time, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Shutting down mid-batch leaves the batch in this worker's processing list; the lease
                // runs out and another worker (or this one, restarted) puts it back. Nothing is lost.
                return;
            }
            catch (Exception ex) when (TwoLevelCache.IsRedisFailure(ex))
            {
                LogRedisUnavailable(_logger, _name, ex);
                await Task.Delay(_options.PollInterval, _time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task ReclaimDeadWorkersAsync(IDatabase database)
    {
        var expired = (RedisValue[])(await ExpiredScript.EvaluateAsync(database, [Workers]).ConfigureAwait(false))!;
        foreach (var worker in expired)
        {
            var id = (string)worker!;
            if (id == _workerId)
            {
                continue;
            }

            var moved = (long)await ReclaimScript.EvaluateAsync(database, [Queue, Processing(id), Workers], [id]).ConfigureAwait(false);
            if (moved > 0)
            {
                LogReclaimed(_logger, _name, moved);
            }
        }
    }

    private Timer? StartHeartbeat(IDatabase database, CancellationToken stoppingToken)
    {
        var period = _options.LeaseDuration / 3;
        return new Timer(
            _ =>
            {
                if (!stoppingToken.IsCancellationRequested)
                {
                    _ = ClaimLeaseRenewal(database);
                }
            },
            null,
            period,
            period);
    }

    private Task ClaimLeaseRenewal(IDatabase database) =>
        // Renewing through the claim script keeps the server clock the only clock: it returns the batch we already hold.
        ClaimScript.EvaluateAsync(database, [Queue, Processing(_workerId), Workers], [_workerId, 0, (long)_options.LeaseDuration.TotalMilliseconds, RetentionMs], CommandFlags.FireAndForget);

    [LoggerMessage(EventId = 2050, Level = LogLevel.Warning, Message = "Write-behind queue {Queue}: sink failed (attempt {Attempt}); the batch stays queued")]
    private static partial void LogSinkFailed(ILogger logger, string queue, int attempt, Exception exception);

    [LoggerMessage(EventId = 2051, Level = LogLevel.Error, Message = "Write-behind queue {Queue}: {Count} items moved to the dead-letter list after repeated sink failures")]
    private static partial void LogDeadLettered(ILogger logger, string queue, int count);

    [LoggerMessage(EventId = 2052, Level = LogLevel.Information, Message = "Write-behind queue {Queue}: put back {Count} items of a worker that stopped renewing its lease")]
    private static partial void LogReclaimed(ILogger logger, string queue, long count);

    [LoggerMessage(EventId = 2053, Level = LogLevel.Warning, Message = "Write-behind queue {Queue}: Redis unavailable; retrying")]
    private static partial void LogRedisUnavailable(ILogger logger, string queue, Exception exception);

    [LoggerMessage(EventId = 2054, Level = LogLevel.Error, Message = "Write-behind queue {Queue}: an item could not be decoded and was skipped")]
    private static partial void LogCorruptItem(ILogger logger, string queue, Exception exception);
}

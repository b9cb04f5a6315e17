using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// A consumer-group member that runs as a hosted service: creates the group, replays its own pending
/// entries, then polls <c>XREADGROUP &gt;</c> in batches, handles them, acknowledges them in one <c>XACK</c>
/// per batch, retries failures with backoff, claims entries from dead consumers and dead-letters entries
/// that keep failing. On shutdown it stops reading and finishes the batch in hand.
/// </summary>
internal sealed partial class StreamConsumer<T, THandler> : BackgroundService
    where THandler : class, IStreamHandler<T>
{
    private static readonly RedisScript DeadLetterScript = RedisScript.FromResource("messaging-stream-dead-letter");

    private readonly string _stream;
    private readonly string _group;
    private readonly StreamConsumerOptions _options;
    private readonly IRedisConnection _connection;
    private readonly IRedisSerializer _serializer;
    private readonly IServiceScopeFactory _scopes;
    private readonly MessagingMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _handlerCancellation = new();
    private readonly KeyValuePair<string, object?> _groupTag;
    private RedisKey _key;
    private RedisKey _deadKey;
    private long _pending;
    private long? _lag;

    public StreamConsumer(
        string stream,
        string group,
        StreamConsumerOptions options,
        IRedisConnection connection,
        IRedisSerializer serializer,
        IServiceScopeFactory scopes,
        MessagingMetrics metrics,
        TimeProvider time,
        ILogger<StreamConsumer<T, THandler>> logger)
    {
        _stream = stream;
        _group = group;
        _options = options;
        _connection = connection;
        _serializer = serializer;
        _scopes = scopes;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _groupTag = new KeyValuePair<string, object?>(MessagingInstruments.GroupTag, group);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Stop reading at once; handlers keep running until the host's shutdown timeout, then are cancelled.
        using var registration = cancellationToken.Register(static state => ((CancellationTokenSource)state!).Cancel(), _handlerCancellation);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _metrics.Untrack(this);
        _handlerCancellation.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        _key = StreamProducer.StreamKey(_connection.Keys, _stream);
        _deadKey = StreamProducer.DeadLetterKey(_connection.Keys, _stream);
        _metrics.Track(this, () => (_group, Interlocked.Read(ref _pending), _lag));
        LogStarting(_logger, _stream, _group, _options.ConsumerName);

        var failures = 0;
        var replayed = false;
        var pollDelay = TimeSpan.Zero;
        var nextClaim = _time.GetTimestamp();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var db = await _connection.GetDatabaseAsync(stoppingToken).ConfigureAwait(false);
                if (!replayed)
                {
                    await EnsureGroupAsync(db).ConfigureAwait(false);
                    await ReplayPendingAsync(db, stoppingToken).ConfigureAwait(false);
                    replayed = true;
                }

                if (_time.GetElapsedTime(nextClaim) >= TimeSpan.Zero)
                {
                    await ClaimIdleAsync(db, stoppingToken).ConfigureAwait(false);
                    await RefreshGaugesAsync(db).ConfigureAwait(false);
                    nextClaim = _time.GetTimestamp() + (long)(_options.ClaimInterval.TotalSeconds * _time.TimestampFrequency);
                }

                var entries = await db.StreamReadGroupAsync(_key, _group, _options.ConsumerName, StreamPosition.NewMessages, _options.BatchSize).ConfigureAwait(false);
                failures = 0;
                if (entries.Length == 0)
                {
                    pollDelay = pollDelay == TimeSpan.Zero ? _options.MinPollDelay : TimeSpan.FromTicks(Math.Min(pollDelay.Ticks * 2, _options.MaxPollDelay.Ticks));
                    await Task.Delay(pollDelay, _time, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                pollDelay = TimeSpan.Zero;
                await ProcessBatchAsync(db, entries, knownDeliveries: null, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // The stream or group vanished (a restart without persistence, a DEL): recreate and go on.
                LogGroupMissing(_logger, _stream, _group);
                replayed = false;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                failures++;
                var delay = TimeSpan.FromMilliseconds(Math.Min(5000, 50 * Math.Pow(2, Math.Min(failures, 10))));
                LogReadFailed(_logger, _stream, _group, delay.TotalMilliseconds, ex);
                try
                {
                    await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        LogStopped(_logger, _stream, _group, _options.ConsumerName);
    }

    private async Task EnsureGroupAsync(IDatabase db)
    {
        try
        {
            var position = _options.StartPosition == StreamStartPosition.Beginning ? StreamPosition.Beginning : StreamPosition.NewMessages;
            if (await db.StreamCreateConsumerGroupAsync(_key, _group, position, createStream: true).ConfigureAwait(false))
            {
                LogGroupCreated(_logger, _stream, _group);
            }
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // Another consumer created it first.
        }
    }

    private async Task ReplayPendingAsync(IDatabase db, CancellationToken stoppingToken)
    {
        // XREADGROUP with an id returns this consumer's own pending entries (its history), after that id.
        RedisValue after = "0";
        var replayed = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var entries = await db.StreamReadGroupAsync(_key, _group, _options.ConsumerName, after, _options.BatchSize).ConfigureAwait(false);
            if (entries.Length == 0)
            {
                break;
            }

            replayed += entries.Length;
            await ProcessBatchAsync(db, entries, await DeliveryCountsAsync(db, entries).ConfigureAwait(false), stoppingToken).ConfigureAwait(false);
            after = entries[^1].Id;
        }

        if (replayed > 0)
        {
            LogReplayed(_logger, _stream, _group, _options.ConsumerName, replayed);
        }
    }

    private async Task ClaimIdleAsync(IDatabase db, CancellationToken stoppingToken)
    {
        RedisValue cursor = "0-0";
        var idle = (long)_options.ClaimIdleTime.TotalMilliseconds;
        do
        {
            var result = await db.StreamAutoClaimAsync(_key, _group, _options.ConsumerName, idle, cursor, _options.BatchSize).ConfigureAwait(false);
            if (result.IsNull)
            {
                return;
            }

            if (result.ClaimedEntries.Length > 0)
            {
                _metrics.Claimed.Add(result.ClaimedEntries.Length, _groupTag);
                LogClaimed(_logger, _stream, _group, _options.ConsumerName, result.ClaimedEntries.Length);
                await ProcessBatchAsync(db, result.ClaimedEntries, await DeliveryCountsAsync(db, result.ClaimedEntries).ConfigureAwait(false), stoppingToken).ConfigureAwait(false);
            }

            cursor = result.NextStartId;
        }
        while (cursor != "0-0" && !stoppingToken.IsCancellationRequested);
    }

    private async Task<Dictionary<string, int>> DeliveryCountsAsync(IDatabase db, StreamEntry[] entries)
    {
        var pending = await db.StreamPendingMessagesAsync(_key, _group, entries.Length, _options.ConsumerName, entries[0].Id, entries[^1].Id).ConfigureAwait(false);
        var counts = new Dictionary<string, int>(pending.Length, StringComparer.Ordinal);
        foreach (var info in pending)
        {
            counts[info.MessageId.ToString()] = info.DeliveryCount;
        }

        return counts;
    }

    private async Task RefreshGaugesAsync(IDatabase db)
    {
        foreach (var info in await db.StreamGroupInfoAsync(_key).ConfigureAwait(false))
        {
            if (info.Name == _group)
            {
                Interlocked.Exchange(ref _pending, info.PendingMessageCount);
                _lag = info.Lag;
                return;
            }
        }
    }

    private async Task ProcessBatchAsync(IDatabase db, StreamEntry[] entries, Dictionary<string, int>? knownDeliveries, CancellationToken stoppingToken)
    {
        var acks = new RedisValue[entries.Length];
        var handlerToken = _handlerCancellation.Token;
        if (_options.Concurrency == 1)
        {
            for (var i = 0; i < entries.Length; i++)
            {
                acks[i] = await HandleEntryAsync(db, entries[i], knownDeliveries, stoppingToken, handlerToken).ConfigureAwait(false);
            }
        }
        else
        {
            await Parallel.ForAsync(0, entries.Length, new ParallelOptions { MaxDegreeOfParallelism = _options.Concurrency }, async (i, _) =>
                acks[i] = await HandleEntryAsync(db, entries[i], knownDeliveries, stoppingToken, handlerToken).ConfigureAwait(false)).ConfigureAwait(false);
        }

        var toAck = acks.Where(static id => !id.IsNull).ToArray();
        if (toAck.Length > 0)
        {
            // One XACK for the batch. If it is lost (Redis down), the entries stay pending and are handled again
            // (replay or claim): delivery is at least once.
            await db.StreamAcknowledgeAsync(_key, _group, toAck).ConfigureAwait(false);
            _metrics.Processed.Add(toAck.Length, _groupTag);
        }
    }

    /// <summary>Handles one entry with its retries; returns its id when it should be acknowledged, else null.</summary>
    private async Task<RedisValue> HandleEntryAsync(IDatabase db, StreamEntry entry, Dictionary<string, int>? knownDeliveries, CancellationToken stoppingToken, CancellationToken handlerToken)
    {
        string id = entry.Id!;
        if (knownDeliveries is not null && knownDeliveries.TryGetValue(id, out var deliveries) && deliveries > _options.MaxDeliveries)
        {
            // Delivered more often than allowed without an outcome: its consumers died while handling it.
            await DeadLetterAsync(db, id, $"Delivered {deliveries} times without being acknowledged (the consumers handling it stopped).", force: true).ConfigureAwait(false);
            return RedisValue.Null;
        }

        if (!TryRead(entry, out var message, out var error))
        {
            await DeadLetterAsync(db, id, error!, force: true).ConfigureAwait(false);
            return RedisValue.Null;
        }

        for (var attempt = 1; ; attempt++)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                var scope = _scopes.CreateAsyncScope();
                await using (scope.ConfigureAwait(false))
                {
                    var handler = scope.ServiceProvider.GetRequiredService<THandler>();
                    await handler.HandleAsync(new StreamMessage<T>(_stream, id, message!, attempt), handlerToken).ConfigureAwait(false);
                }

                RecordDuration(started, "success");
                return id;
            }
            catch (OperationCanceledException) when (handlerToken.IsCancellationRequested)
            {
                // Shutdown timed out: leave the entry pending; a restart or another consumer takes it.
                return RedisValue.Null;
            }
#pragma warning disable CA1031 // Any handler failure is a failed delivery: retried, then dead-lettered.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                RecordDuration(started, "failure");
                _metrics.Failed.Add(1, _groupTag);
                var (outcome, count) = await DeadLetterAsync(db, id, $"{ex.GetType().FullName}: {ex.Message}", force: false).ConfigureAwait(false);
                if (outcome != 0)
                {
                    if (outcome == 1)
                    {
                        LogDeadLettered(_logger, _stream, _group, id, count, ex);
                    }

                    return RedisValue.Null;
                }

                LogHandlerFailed(_logger, _stream, _group, id, count, _options.MaxDeliveries, ex);
                var delay = RetryDelay(attempt);
                try
                {
                    await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return RedisValue.Null;
                }

                // Take the entry again (this counts a delivery). If another consumer claimed it meanwhile its idle
                // time is below our wait, so the claim returns nothing and we leave it to that consumer.
                var minIdle = Math.Max(0, (long)delay.TotalMilliseconds - 1);
                var claimed = await db.StreamClaimAsync(_key, _group, _options.ConsumerName, minIdle, [id]).ConfigureAwait(false);
                if (claimed.Length == 0 || claimed[0].IsNull || !TryRead(claimed[0], out message, out _))
                {
                    return RedisValue.Null;
                }

                _metrics.Retried.Add(1, _groupTag);
            }
        }
    }

    private TimeSpan RetryDelay(int attempt)
    {
        var ticks = _options.RetryBaseDelay.Ticks * Math.Pow(2, Math.Min(attempt - 1, 20));
        return TimeSpan.FromTicks((long)Math.Min(ticks, _options.RetryMaxDelay.Ticks));
    }

    private void RecordDuration(long started, string outcome)
    {
        if (_metrics.HandlerDuration.Enabled)
        {
            _metrics.HandlerDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, _groupTag, new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    private bool TryRead(StreamEntry entry, out T? message, out string? error)
    {
        message = default;
        var data = entry.IsNull || entry.Values is null ? RedisValue.Null : entry[StreamProducer.DataField];
        if (data.IsNull)
        {
            error = $"The entry has no '{StreamProducer.DataField}' field (or was deleted from the stream).";
            return false;
        }

        try
        {
            message = _serializer.Deserialize<T>((byte[])data!);
        }
        catch (RedisSerializationException ex)
        {
            error = ex.Message;
            LogInvalidEntry(_logger, _stream, (string)entry.Id!, typeof(T).Name, ex);
            return false;
        }

        error = message is null ? $"The entry's '{StreamProducer.DataField}' is JSON null." : null;
        return message is not null;
    }

    private async Task<(int Outcome, int Deliveries)> DeadLetterAsync(IDatabase db, string id, string error, bool force)
    {
        var result = (RedisResult[])(await DeadLetterScript.EvaluateAsync(
            db,
            [_key, _deadKey],
            [_group, id, _options.ConsumerName, _options.MaxDeliveries, error, _options.DeadLetterMaxLength ?? 0, force ? "1" : "0"]).ConfigureAwait(false))!;
        var outcome = (int)result[0];
        var deliveries = (int)result[1];
        if (outcome == 1)
        {
            _metrics.DeadLettered.Add(1, _groupTag);
            if (force)
            {
                LogDeadLetteredUnhandled(_logger, _stream, _group, id, error);
            }
        }

        return (outcome, deliveries);
    }
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace RedisKit;

/// <summary>Names of the messaging instruments on the <c>RedisKit</c> meter.</summary>
public static class MessagingInstruments
{
    /// <summary>Messages published (counter, <c>{message}</c>).</summary>
    public const string PubSubPublished = "rediskit.pubsub.published";

    /// <summary>Messages a handler completed without throwing (counter).</summary>
    public const string PubSubHandled = "rediskit.pubsub.handled";

    /// <summary>Handler calls that threw (counter); the exception is logged, other handlers are unaffected.</summary>
    public const string PubSubHandlerErrors = "rediskit.pubsub.handler_errors";

    /// <summary>Messages dropped because a subscription queue was full (counter, tag <c>policy</c>).</summary>
    public const string PubSubDropped = "rediskit.pubsub.dropped";

    /// <summary>Messages that could not be deserialized as the subscription's type (counter); logged and skipped.</summary>
    public const string PubSubInvalid = "rediskit.pubsub.invalid";

    /// <summary>Entries added to streams (counter).</summary>
    public const string StreamAdded = "rediskit.stream.added";

    /// <summary>Adds skipped because their idempotency key was already used (counter).</summary>
    public const string StreamDuplicates = "rediskit.stream.duplicates";

    /// <summary>Entries handled and acknowledged (counter, tag <c>messaging.consumer.group.name</c>).</summary>
    public const string StreamProcessed = "rediskit.stream.processed";

    /// <summary>Handler calls that threw (counter).</summary>
    public const string StreamFailed = "rediskit.stream.failed";

    /// <summary>Deliveries retried after a failure (counter).</summary>
    public const string StreamRetried = "rediskit.stream.retried";

    /// <summary>Entries moved to the dead-letter stream (counter).</summary>
    public const string StreamDeadLettered = "rediskit.stream.dead_lettered";

    /// <summary>Entries claimed from other (idle or dead) consumers with XAUTOCLAIM (counter).</summary>
    public const string StreamClaimed = "rediskit.stream.claimed";

    /// <summary>Time a handler took for one entry (histogram, seconds).</summary>
    public const string StreamHandlerDuration = "rediskit.stream.handler.duration";

    /// <summary>Entries delivered to the group and not yet acknowledged (gauge, from XINFO GROUPS).</summary>
    public const string StreamPending = "rediskit.stream.pending";

    /// <summary>Entries in the stream not yet delivered to the group (gauge, XINFO GROUPS <c>lag</c>, Redis 7+).</summary>
    public const string StreamLag = "rediskit.stream.lag";

    /// <summary>The tag naming the consumer group on stream consumer instruments.</summary>
    public const string GroupTag = "messaging.consumer.group.name";
}

/// <summary>The messaging instruments. One per service provider.</summary>
internal sealed class MessagingMetrics
{
    private readonly ConcurrentDictionary<object, Func<(string Group, long Pending, long? Lag)>> _groups = new();

    public MessagingMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(RedisKitDiagnostics.MeterName);
        Published = meter.CreateCounter<long>(MessagingInstruments.PubSubPublished, "{message}", "Messages published.");
        Handled = meter.CreateCounter<long>(MessagingInstruments.PubSubHandled, "{message}", "Messages handled without error.");
        HandlerErrors = meter.CreateCounter<long>(MessagingInstruments.PubSubHandlerErrors, "{message}", "Handler calls that threw.");
        Dropped = meter.CreateCounter<long>(MessagingInstruments.PubSubDropped, "{message}", "Messages dropped because a subscription queue was full.");
        Invalid = meter.CreateCounter<long>(MessagingInstruments.PubSubInvalid, "{message}", "Messages that could not be deserialized.");
        Added = meter.CreateCounter<long>(MessagingInstruments.StreamAdded, "{entry}", "Entries added to streams.");
        Duplicates = meter.CreateCounter<long>(MessagingInstruments.StreamDuplicates, "{entry}", "Adds skipped for a repeated idempotency key.");
        Processed = meter.CreateCounter<long>(MessagingInstruments.StreamProcessed, "{entry}", "Entries handled and acknowledged.");
        Failed = meter.CreateCounter<long>(MessagingInstruments.StreamFailed, "{entry}", "Handler calls that threw.");
        Retried = meter.CreateCounter<long>(MessagingInstruments.StreamRetried, "{entry}", "Deliveries retried after a failure.");
        DeadLettered = meter.CreateCounter<long>(MessagingInstruments.StreamDeadLettered, "{entry}", "Entries moved to the dead-letter stream.");
        Claimed = meter.CreateCounter<long>(MessagingInstruments.StreamClaimed, "{entry}", "Entries claimed from idle consumers.");
        HandlerDuration = meter.CreateHistogram<double>(MessagingInstruments.StreamHandlerDuration, "s", "Time a stream handler took for one entry.");
        meter.CreateObservableGauge(MessagingInstruments.StreamPending, ObservePending, "{entry}", "Entries delivered to the group and not yet acknowledged.");
        meter.CreateObservableGauge(MessagingInstruments.StreamLag, ObserveLag, "{entry}", "Entries not yet delivered to the group.");
    }

    public Counter<long> Published { get; }

    public Counter<long> Handled { get; }

    public Counter<long> HandlerErrors { get; }

    public Counter<long> Dropped { get; }

    public Counter<long> Invalid { get; }

    public Counter<long> Added { get; }

    public Counter<long> Duplicates { get; }

    public Counter<long> Processed { get; }

    public Counter<long> Failed { get; }

    public Counter<long> Retried { get; }

    public Counter<long> DeadLettered { get; }

    public Counter<long> Claimed { get; }

    public Histogram<double> HandlerDuration { get; }

    /// <summary>Registers a consumer whose last observed pending count and lag the gauges report.</summary>
    public void Track(object owner, Func<(string Group, long Pending, long? Lag)> read) => _groups[owner] = read;

    public void Untrack(object owner) => _groups.TryRemove(owner, out _);

    private IEnumerable<Measurement<long>> ObservePending()
    {
        foreach (var read in _groups.Values)
        {
            var (group, pending, _) = read();
            yield return new Measurement<long>(pending, new KeyValuePair<string, object?>(MessagingInstruments.GroupTag, group));
        }
    }

    private IEnumerable<Measurement<long>> ObserveLag()
    {
        foreach (var read in _groups.Values)
        {
            var (group, _, lag) = read();
            if (lag is { } value)
            {
                yield return new Measurement<long>(value, new KeyValuePair<string, object?>(MessagingInstruments.GroupTag, group));
            }
        }
    }
}

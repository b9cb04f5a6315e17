using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RedisKit;

/// <summary>
/// Settings of typed pub/sub and of the stream producer. Bound from <c>RedisKit:Messaging</c> and
/// validated when the host starts.
/// </summary>
public sealed class MessagingOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "RedisKit:Messaging";

    /// <summary>
    /// Messages a subscription may hold between Redis and its handler. When full, <see cref="OverflowPolicy"/>
    /// decides which message is dropped; drops are counted (<c>rediskit.pubsub.dropped</c>). Default 1024.
    /// </summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 1024;

    /// <summary>What a full subscription queue does with a new message. Default <see cref="PubSubOverflowPolicy.DropOldest"/>.</summary>
    [EnumDataType(typeof(PubSubOverflowPolicy))]
    public PubSubOverflowPolicy OverflowPolicy { get; set; } = PubSubOverflowPolicy.DropOldest;

    /// <summary>
    /// Handler calls a subscription runs at once. 1 (the default) handles messages one at a time in the order
    /// Redis delivered them; more handles them concurrently with no order.
    /// </summary>
    [Range(1, 1024)]
    public int MaxConcurrency { get; set; } = 1;

    /// <summary>
    /// Publish and subscribe with sharded pub/sub (<c>SPUBLISH</c>/<c>SSUBSCRIBE</c>, Redis 7+): on a cluster a
    /// channel lives on the shard that owns its slot instead of being broadcast to every node. Pattern
    /// subscriptions are not available in this mode. Default <see langword="false"/>.
    /// </summary>
    public bool Sharded { get; set; }

    /// <summary>How long a stream idempotency key is remembered after its entry was added. Default 24 hours.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Default approximate cap on a stream's length (<c>XADD MAXLEN ~</c>) when <c>AddAsync</c> is given none;
    /// <see langword="null"/> (the default) keeps every entry.
    /// </summary>
    [Range(1L, long.MaxValue)]
    public long? DefaultMaxLength { get; set; }
}

/// <summary>What a full subscription queue does with a new message.</summary>
public enum PubSubOverflowPolicy
{
    /// <summary>Drop the oldest queued message to make room for the new one (fresh data wins).</summary>
    DropOldest,

    /// <summary>Drop the newest queued message to make room for the new one.</summary>
    DropNewest,

    /// <summary>Drop the message that just arrived (queued messages win).</summary>
    DropIncoming,
}

[OptionsValidator]
internal sealed partial class MessagingOptionsValidator : IValidateOptions<MessagingOptions>;

using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RedisKit;

/// <summary>
/// Settings of one stream consumer (<c>AddStreamConsumer</c>). Validated when the host starts; the
/// options name is <c>{stream}/{group}</c>.
/// </summary>
public sealed class StreamConsumerOptions
{
    /// <summary>
    /// This consumer's name in the group. Entries it read and did not acknowledge stay assigned to it and
    /// are replayed when a consumer with the same name starts, so keep it stable per instance (a pod or
    /// host name) and distinct between instances that run at the same time. Default: the machine name.
    /// </summary>
    [Required]
    [StringLength(200, MinimumLength = 1)]
    public string ConsumerName { get; set; } = Environment.MachineName;

    /// <summary>Entries read per <c>XREADGROUP</c> (and per <c>XACK</c>). Default 100.</summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>Entries handled at once. 1 (the default) handles a consumer's entries one by one in stream order.</summary>
    [Range(1, 1024)]
    public int Concurrency { get; set; } = 1;

    /// <summary>
    /// The first wait after a read that found nothing; each further empty read doubles it up to
    /// <see cref="MaxPollDelay"/>. A read that finds entries resets it (the next read is immediate).
    /// StackExchange.Redis does not issue blocking reads, so this polling replaces <c>BLOCK</c>. Default 5 ms.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan MinPollDelay { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>The longest wait between reads of an idle stream (the worst-case pick-up latency). Default 500 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan MaxPollDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Entries another consumer has held unacknowledged this long are taken over (<c>XAUTOCLAIM</c>): that
    /// consumer is presumed dead. Must exceed the longest handler run plus <see cref="RetryMaxDelay"/>, or a
    /// slow live consumer's work is handled twice. Default 1 minute.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan ClaimIdleTime { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often to look for entries to claim and to refresh the pending and lag gauges. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan ClaimInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Deliveries (Redis's own delivery counter) after which a failing entry is moved to the dead-letter
    /// stream <c>{prefix}:stream:{name}:dead</c> with its error, and acknowledged. Default 5.
    /// </summary>
    [Range(1, 1000)]
    public int MaxDeliveries { get; set; } = 5;

    /// <summary>The wait before the first retry of a failed entry; it doubles per delivery up to <see cref="RetryMaxDelay"/>. Default 200 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest wait before a retry. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Where a new group starts reading when this consumer creates it. Default <see cref="StreamStartPosition.Beginning"/>.</summary>
    [EnumDataType(typeof(StreamStartPosition))]
    public StreamStartPosition StartPosition { get; set; } = StreamStartPosition.Beginning;

    /// <summary>Approximate cap on the dead-letter stream's length; <see langword="null"/> (default) keeps every entry.</summary>
    [Range(1L, long.MaxValue)]
    public long? DeadLetterMaxLength { get; set; }
}

/// <summary>Where a consumer group created by RedisKit starts.</summary>
public enum StreamStartPosition
{
    /// <summary>With the stream's first entry (<c>XGROUP CREATE … 0</c>): entries added before the group existed are handled.</summary>
    Beginning,

    /// <summary>With entries added after the group was created (<c>XGROUP CREATE … $</c>).</summary>
    NewEntries,
}

[OptionsValidator]
internal sealed partial class StreamConsumerOptionsDataAnnotationsValidator : IValidateOptions<StreamConsumerOptions>;

/// <summary>Data annotations plus the rules between settings.</summary>
internal sealed class StreamConsumerOptionsValidator : IValidateOptions<StreamConsumerOptions>
{
    public ValidateOptionsResult Validate(string? name, StreamConsumerOptions options)
    {
        var annotations = new StreamConsumerOptionsDataAnnotationsValidator().Validate(name, options);
        if (annotations.Failed)
        {
            return annotations;
        }

        if (options.MaxPollDelay < options.MinPollDelay)
        {
            return ValidateOptionsResult.Fail($"Stream consumer '{name}': MaxPollDelay must be at least MinPollDelay.");
        }

        if (options.RetryMaxDelay < options.RetryBaseDelay)
        {
            return ValidateOptionsResult.Fail($"Stream consumer '{name}': RetryMaxDelay must be at least RetryBaseDelay.");
        }

        if (options.ClaimIdleTime <= options.RetryMaxDelay)
        {
            return ValidateOptionsResult.Fail($"Stream consumer '{name}': ClaimIdleTime must exceed RetryMaxDelay, or entries waiting for a retry are claimed by other consumers.");
        }

        return ValidateOptionsResult.Success;
    }
}

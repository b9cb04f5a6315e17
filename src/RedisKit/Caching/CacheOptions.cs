using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RedisKit;

/// <summary>
/// Settings of the two-level cache (<see cref="IRedisCache"/>). Per-entry values here are defaults that
/// <see cref="CacheEntryOptions"/> overrides. Bound from <c>RedisKit:Caching</c>; validated at start.
/// </summary>
public sealed class CacheOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "RedisKit:Caching";

    /// <summary>Default entry options (duration, fail-safe, timeouts, eager refresh).</summary>
    [ValidateObjectMembers]
    public CacheEntryOptions DefaultEntryOptions { get; set; } = new();

    /// <summary>Whether the in-memory first level (L1) is used.</summary>
    public bool EnableL1 { get; set; } = true;

    /// <summary>The most entries L1 holds; the least recently added are compacted first.</summary>
    [Range(1, 100_000_000)]
    public int L1MaxEntries { get; set; } = 100_000;

    /// <summary>
    /// How long L1 entries keep being served as fresh after the connection to Redis is lost (when
    /// invalidations from other instances may be missed). After this, L1 entries are used only as
    /// fail-safe fallbacks; when the connection is restored every older L1 entry stops being fresh.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan L1TrustWhileDisconnected { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether instances tell each other about writes and invalidations (pub/sub; sharded on a cluster) so L1 stays coherent.</summary>
    public bool EnableBackplane { get; set; } = true;

    /// <summary>
    /// How long a tag's invalidation generation is trusted in memory before it is read from Redis again.
    /// The backplane updates it at once; this bounds staleness if a backplane message is lost.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan TagCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a tag's invalidation is remembered in Redis. Tagged entries never live longer in Redis
    /// than this, so a forgotten invalidation can never revive an entry.
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan TagRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long a key's write generation is remembered after a write or removal: a factory that started
    /// before the write and ends within this time is not written back. Keep it above your slowest factory.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan GenerationRetention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Whether a miss takes a short Redis lock so that only one instance runs the factory (cross-process stampede protection).</summary>
    public bool EnableDistributedLock { get; set; } = true;

    /// <summary>How long the stampede lock is held at most (it is released as soon as the value is written).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan LockDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an instance that lost the lock waits for the winner's value before running the factory itself.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan LockWaitTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a waiting instance re-reads Redis in case the wake-up message was lost.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan LockPollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The largest serialized value accepted, in bytes; larger values are rejected with <see cref="CacheValueTooLargeException"/>.</summary>
    [Range(1, 512 * 1024 * 1024)]
    public int MaxValueBytes { get; set; } = 1024 * 1024;
}

/// <summary>
/// How one entry is cached. Immutable once passed to the cache; use <c>with</c> to derive variants
/// (<c>options with { Duration = … }</c>).
/// </summary>
public sealed record CacheEntryOptions
{
    /// <summary>How long the value is fresh.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "3650.00:00:00")]
    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Random extra duration, up to this much, added per write so that entries written together do not expire together.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan Jitter { get; init; }

    /// <summary>Whether an expired value is kept and served when the factory fails or Redis is unreachable.</summary>
    public bool FailSafe { get; init; } = true;

    /// <summary>How long after expiry a value may still be served by fail-safe.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "3650.00:00:00")]
    public TimeSpan FailSafeMaxDuration { get; init; } = TimeSpan.FromHours(1);

    /// <summary>After fail-safe served a stale value, how long it is served again before the factory is retried.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan FailSafeThrottleDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// When a stale value exists and the factory takes longer than this, the stale value is returned and
    /// the factory finishes in the background, storing its result. <see langword="null"/>: wait.
    /// </summary>
    public TimeSpan? FactorySoftTimeout { get; init; }

    /// <summary>
    /// The longest a caller waits for the factory: then it gets the stale value or a
    /// <see cref="TimeoutException"/>; the factory still finishes in the background and stores its result.
    /// </summary>
    public TimeSpan? FactoryHardTimeout { get; init; }

    /// <summary>
    /// A fraction of <see cref="Duration"/> (0 &lt; x &lt; 1) after which a hit also starts a background
    /// refresh, so hot keys never expire under load. <see langword="null"/>: off.
    /// </summary>
    [Range(0.01, 0.99)]
    public double? EagerRefreshThreshold { get; init; }

    /// <summary>How long a "not found" result is cached when the factory calls <see cref="CacheFactoryContext{T}.NotFound"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan NegativeDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether L1 is skipped for this entry (Redis only).</summary>
    public bool SkipL1 { get; init; }
}

[OptionsValidator]
internal sealed partial class CacheOptionsValidator : IValidateOptions<CacheOptions>;

/// <summary>A value's serialized form is larger than <see cref="CacheOptions.MaxValueBytes"/>. Nothing was written.</summary>
public sealed class CacheValueTooLargeException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public CacheValueTooLargeException(int length, int maxLength)
        : base($"The cache value is {length} bytes serialized; the limit is {maxLength} (RedisKit:Caching:MaxValueBytes). Nothing was written.")
    {
        Length = length;
        MaxLength = maxLength;
    }

    /// <summary>The serialized size.</summary>
    public int Length { get; }

    /// <summary>The configured limit.</summary>
    public int MaxLength { get; }
}

using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RedisKit;

/// <summary>
/// Settings of the distributed locks registered by <c>AddLocking</c>. Validated when the host starts;
/// a bad value stops the application at boot with the setting's name.
/// </summary>
public sealed class LockingOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "RedisKit:Locking";

    /// <summary>
    /// How long a lock lives in Redis without being extended (the key's PX). A holder that dies frees the
    /// lock after at most this long. Default 30 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "1.00:00:00")]
    public TimeSpan Expiry { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether a held lock is extended in the background every <see cref="ExtensionInterval"/> until it is
    /// released or <see cref="MaxHoldTime"/> passes. Default true.
    /// </summary>
    public bool AutoExtend { get; set; } = true;

    /// <summary>How often auto-extension runs; null means a third of <see cref="Expiry"/>. Must be less than <see cref="Expiry"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan? ExtensionInterval { get; set; }

    /// <summary>
    /// The longest a lock is auto-extended; after that it is left to expire and <c>HandleLostToken</c> fires
    /// when it does. Null (the default) means no limit.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "365.00:00:00")]
    public TimeSpan? MaxHoldTime { get; set; }

    /// <summary>The shortest pause between two attempts while waiting (each pause is random between the two bounds). Default 10 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan MinRetryDelay { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>The longest pause between two attempts while waiting. Default 250 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Whether a release publishes a message that wakes waiters at once (one shared pub/sub subscription per
    /// provider). When false, waiters only poll. Default true.
    /// </summary>
    public bool ReleaseNotifications { get; set; } = true;

    /// <summary>
    /// Whether disposing a handle waits for Redis to confirm the release. False (the default): <c>DisposeAsync</c>
    /// writes the owner-checked release to the connection and returns without waiting for the reply; any command
    /// this application sends to the same Redis server afterwards on the shared connection (including its next
    /// acquire of the same lock) is executed after the release. The reply is checked in the background: a failed
    /// release is logged (EventId 4002) and counted (<c>rediskit.lock.releases</c>, result <c>error</c>), and the
    /// lock then expires by itself, as if its holder had crashed. The provider's disposal and host shutdown wait for
    /// releases still in flight. True: <c>DisposeAsync</c> returns only after the server answered (one round trip),
    /// so when it returns the lock is free for every client; a failure is still logged, counted and not thrown.
    /// </summary>
    public bool AwaitRelease { get; set; }
}

[OptionsValidator]
internal sealed partial class LockingOptionsDataAnnotationsValidator : IValidateOptions<LockingOptions>;

/// <summary>Data annotations plus the cross-field rules.</summary>
internal sealed class LockingOptionsValidator : IValidateOptions<LockingOptions>
{
    public ValidateOptionsResult Validate(string? name, LockingOptions options)
    {
        var annotations = new LockingOptionsDataAnnotationsValidator().Validate(name, options);
        if (annotations.Failed)
        {
            return annotations;
        }

        if (options.ExtensionInterval is { } interval && interval >= options.Expiry)
        {
            return ValidateOptionsResult.Fail("RedisKit:Locking:ExtensionInterval must be less than RedisKit:Locking:Expiry.");
        }

        if (options.MaxRetryDelay < options.MinRetryDelay)
        {
            return ValidateOptionsResult.Fail("RedisKit:Locking:MaxRetryDelay must be at least RedisKit:Locking:MinRetryDelay.");
        }

        return ValidateOptionsResult.Success;
    }
}

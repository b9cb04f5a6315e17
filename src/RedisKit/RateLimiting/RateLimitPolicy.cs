using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit.RateLimiting;

/// <summary>
/// One limit: an algorithm and its numbers, plus what to do when Redis is down. Named policies live in
/// <see cref="RedisRateLimitingOptions.Policies"/> (validated at start); ad-hoc policies can be passed to
/// <see cref="IRedisRateLimiter"/> directly and are validated on first use.
/// </summary>
public sealed class RateLimitPolicy
{
    /// <summary>
    /// The policy's name: the last segment of its Redis key and the name shown in headers, metrics and logs.
    /// Set from the dictionary key for configured policies.
    /// </summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_.-]{1,64}$", ErrorMessage = "The policy name must be 1-64 characters of letters, digits, '_', '.' or '-'.")]
    public string Name { get; set; } = "";

    /// <summary>The algorithm. Default <see cref="RateLimitAlgorithm.FixedWindow"/>.</summary>
    [EnumDataType(typeof(RateLimitAlgorithm))]
    public RateLimitAlgorithm Algorithm { get; set; } = RateLimitAlgorithm.FixedWindow;

    /// <summary>Permits per window; bucket size for the token bucket; concurrent leases for the concurrency limiter. Must be &gt; 0.</summary>
    [Range(1, int.MaxValue)]
    public int PermitLimit { get; set; } = 100;

    /// <summary>
    /// The window (fixed and sliding windows, GCRA) or the replenishment period (token bucket), at least 1 ms and at
    /// most 365 days. Not used by the concurrency limiter.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "365.00:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Token bucket only: tokens added per <see cref="Window"/>; 0 (default) means <see cref="PermitLimit"/>.</summary>
    [Range(0, int.MaxValue)]
    public int TokensPerPeriod { get; set; }

    /// <summary>GCRA only: how many requests may arrive back to back; 0 (default) means <see cref="PermitLimit"/>.</summary>
    [Range(0, int.MaxValue)]
    public int Burst { get; set; }

    /// <summary>
    /// Concurrency only: how long a lease survives without a heartbeat. The holder renews it every third of this, so a
    /// live holder keeps its lease however long it runs; a dead one loses it this long after its last heartbeat.
    /// Default 30 s; 100 ms to 1 hour.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>What happens when Redis is unreachable. Default <see cref="RateLimitFailureMode.FailOpen"/>.</summary>
    [EnumDataType(typeof(RateLimitFailureMode))]
    public RateLimitFailureMode FailureMode { get; set; } = RateLimitFailureMode.FailOpen;

    /// <summary>A fixed window of <paramref name="permitLimit"/> per <paramref name="window"/>.</summary>
    public static RateLimitPolicy FixedWindow(string name, int permitLimit, TimeSpan window) =>
        new() { Name = name, Algorithm = RateLimitAlgorithm.FixedWindow, PermitLimit = permitLimit, Window = window };

    /// <summary>An exact sliding window (log) of <paramref name="permitLimit"/> per <paramref name="window"/>.</summary>
    public static RateLimitPolicy SlidingWindowLog(string name, int permitLimit, TimeSpan window) =>
        new() { Name = name, Algorithm = RateLimitAlgorithm.SlidingWindowLog, PermitLimit = permitLimit, Window = window };

    /// <summary>An approximate sliding window (two counters) of <paramref name="permitLimit"/> per <paramref name="window"/>.</summary>
    public static RateLimitPolicy SlidingWindowCounter(string name, int permitLimit, TimeSpan window) =>
        new() { Name = name, Algorithm = RateLimitAlgorithm.SlidingWindowCounter, PermitLimit = permitLimit, Window = window };

    /// <summary>A token bucket of <paramref name="tokenLimit"/> tokens refilled with <paramref name="tokensPerPeriod"/> per <paramref name="period"/>.</summary>
    public static RateLimitPolicy TokenBucket(string name, int tokenLimit, int tokensPerPeriod, TimeSpan period) =>
        new() { Name = name, Algorithm = RateLimitAlgorithm.TokenBucket, PermitLimit = tokenLimit, TokensPerPeriod = tokensPerPeriod, Window = period };

    /// <summary>GCRA: <paramref name="permitLimit"/> per <paramref name="window"/>, bursts of <paramref name="burst"/> (0 = <paramref name="permitLimit"/>).</summary>
    public static RateLimitPolicy Gcra(string name, int permitLimit, TimeSpan window, int burst = 0) =>
        new() { Name = name, Algorithm = RateLimitAlgorithm.Gcra, PermitLimit = permitLimit, Window = window, Burst = burst };

    /// <summary>At most <paramref name="permitLimit"/> concurrent leases, each reclaimed <paramref name="leaseTtl"/> after its holder's last heartbeat.</summary>
    public static RateLimitPolicy Concurrency(string name, int permitLimit, TimeSpan leaseTtl) =>
        new() { Name = name, Algorithm = RateLimitAlgorithm.Concurrency, PermitLimit = permitLimit, LeaseTtl = leaseTtl };

    /// <summary>Returns a copy with <see cref="FailureMode"/> set.</summary>
    public RateLimitPolicy WithFailureMode(RateLimitFailureMode mode)
    {
        var copy = (RateLimitPolicy)MemberwiseClone();
        copy.FailureMode = mode;
        return copy;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> naming every invalid setting.</summary>
    public void Validate()
    {
        var result = RateLimitPolicyValidation.Validate(Name, this);
        if (result.Failed)
        {
            throw new OptionsValidationException(Name, typeof(RateLimitPolicy), result.Failures);
        }
    }

    internal long WindowMilliseconds => Math.Max(1L, (long)Math.Ceiling(Window.TotalMilliseconds));

    internal long LeaseTtlMilliseconds => Math.Max(1L, (long)Math.Ceiling(LeaseTtl.TotalMilliseconds));

    /// <summary>The four script arguments of this policy: algorithm, limit, window ms, extra.</summary>
    internal (int Algorithm, long Limit, long WindowMs, long Extra) ScriptArguments => Algorithm switch
    {
        RateLimitAlgorithm.TokenBucket => ((int)Algorithm, PermitLimit, WindowMilliseconds, TokensPerPeriod > 0 ? TokensPerPeriod : PermitLimit),
        RateLimitAlgorithm.Gcra => ((int)Algorithm, PermitLimit, WindowMilliseconds, Burst > 0 ? Burst : PermitLimit),
        RateLimitAlgorithm.Concurrency => ((int)Algorithm, PermitLimit, LeaseTtlMilliseconds, 0),
        _ => ((int)Algorithm, PermitLimit, WindowMilliseconds, 0),
    };

    /// <summary>
    /// The policy as the check script reads it: <c>algorithm:limit:window ms:extra</c> in ASCII, parsed once per script
    /// call however many checks share the policy. Built again only when a setting changed since the last check.
    /// </summary>
    internal RedisValue ScriptSpec
    {
        get
        {
            var arguments = ScriptArguments;
            var cached = Volatile.Read(ref _scriptSpec);
            if (cached is null || cached.Arguments != arguments)
            {
                var (algorithm, limit, windowMs, extra) = arguments;
                cached = new ScriptSpecCache(arguments, Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{algorithm}:{limit}:{windowMs}:{extra}")));
                Volatile.Write(ref _scriptSpec, cached);
            }

            return cached.Value;
        }
    }

    private ScriptSpecCache? _scriptSpec;

    private sealed record ScriptSpecCache((int Algorithm, long Limit, long WindowMs, long Extra) Arguments, RedisValue Value);

    /// <summary>The window reported in <c>RateLimit-Policy</c> (<c>w</c>), in whole seconds, or null for the concurrency limiter.</summary>
    internal long? WindowSecondsForHeaders => Algorithm == RateLimitAlgorithm.Concurrency
        ? null
        : Math.Max(1L, (long)Math.Ceiling(Window.TotalSeconds));

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Name} ({Algorithm}, {PermitLimit}/{Window})");
}

/// <summary>Source-generated DataAnnotations validator of <see cref="RateLimitPolicy"/>.</summary>
[OptionsValidator]
internal sealed partial class RateLimitPolicyValidator : IValidateOptions<RateLimitPolicy>
{
}

internal static class RateLimitPolicyValidation
{
    private static readonly RateLimitPolicyValidator Generated = new();

    /// <summary>DataAnnotations plus the rules that depend on the algorithm; failures name the setting.</summary>
    public static ValidateOptionsResult Validate(string? name, RateLimitPolicy policy)
    {
        var failures = new List<string>();
        var generated = Generated.Validate(name, policy);
        if (generated.Failed)
        {
            failures.AddRange(generated.Failures);
        }

        var label = string.IsNullOrEmpty(name) ? policy.Name : name;
        if (policy.Algorithm == RateLimitAlgorithm.Gcra && policy.Burst > 0 && policy.Window.TotalMilliseconds / policy.PermitLimit < 0.001)
        {
            failures.Add($"{label}: Window / PermitLimit must be at least 1 microsecond for GCRA.");
        }

        if (policy.Algorithm == RateLimitAlgorithm.SlidingWindowLog && policy.PermitLimit > 100_000)
        {
            failures.Add($"{label}: PermitLimit is {policy.PermitLimit}; the sliding window log keeps one member per permit, so it is limited to 100000 (use SlidingWindowCounter).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

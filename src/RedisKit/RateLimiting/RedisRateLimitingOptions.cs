using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RedisKit.RateLimiting;

/// <summary>
/// Settings of RedisKit rate limiting: the named policies and the local fallback. Bound from
/// <c>RedisKit:RateLimiting</c>; validated when the host starts (every policy, with its name in the message).
/// </summary>
public sealed class RedisRateLimitingOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "RedisKit:RateLimiting";

    /// <summary>Named policies; the dictionary key becomes <see cref="RateLimitPolicy.Name"/>.</summary>
    public Dictionary<string, RateLimitPolicy> Policies { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// How many (policy, partition) in-memory limiters <see cref="RateLimitFailureMode.LocalFallback"/> keeps; past
    /// that they are all dropped and started afresh (bounded memory during an outage). Default 10000; 1 to 1000000.
    /// </summary>
    [Range(1, 1_000_000)]
    public int LocalFallbackMaxPartitions { get; set; } = 10_000;

    /// <summary>
    /// At most one "Redis unavailable" warning is logged per this interval (every failure is still counted).
    /// Default 10 s; 0 to 1 hour.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan FailureLogInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When true (default), checks made while 4 script calls of this process are already in flight wait for the next
    /// free call and go together in it, up to 64 per call (on a cluster, one call per hash slot). Each check still costs
    /// one round trip and stays atomic; throughput under concurrency rises because Redis pays the per-call Lua cost once
    /// per batch. False sends every check in its own call.
    /// </summary>
    public bool CoalesceConcurrentChecks { get; set; } = true;

    /// <summary>Adds (or replaces) a named policy.</summary>
    public RedisRateLimitingOptions AddPolicy(RateLimitPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        Policies[policy.Name] = policy;
        return this;
    }
}

/// <summary>Validates every policy (DataAnnotations and algorithm rules) and the options themselves.</summary>
[OptionsValidator]
internal sealed partial class RedisRateLimitingOptionsValidator : IValidateOptions<RedisRateLimitingOptions>
{
}

internal sealed class RedisRateLimitingPoliciesValidator : IValidateOptions<RedisRateLimitingOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisRateLimitingOptions options)
    {
        var failures = new List<string>();
        foreach (var (key, policy) in options.Policies)
        {
            if (policy is null)
            {
                failures.Add($"RateLimiting:Policies:{key} is null.");
                continue;
            }

            if (!string.Equals(policy.Name, key, StringComparison.Ordinal))
            {
                failures.Add($"RateLimiting:Policies:{key}: Name is '{policy.Name}', it must equal the dictionary key.");
            }

            var result = RateLimitPolicyValidation.Validate($"RateLimiting:Policies:{key}", policy);
            if (result.Failed)
            {
                failures.AddRange(result.Failures.Select(f => $"RateLimiting:Policies:{key}: {f}"));
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

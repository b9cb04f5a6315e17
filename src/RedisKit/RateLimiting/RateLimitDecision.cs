namespace RedisKit.RateLimiting;

/// <summary>The outcome of one policy within a check.</summary>
/// <param name="Policy">The policy.</param>
/// <param name="IsAllowed">Whether this policy alone would allow the request.</param>
/// <param name="Remaining">Permits left after this request (0 when denied or exhausted).</param>
/// <param name="Reset">Time until the quota resets: the window ends, the oldest permit leaves the sliding window, the bucket is full again.</param>
/// <param name="RetryAfter">When denied, how long until a retry can succeed; <see langword="null"/> when allowed, or when it never can (cost above the limit).</param>
public readonly record struct RateLimitPolicyResult(RateLimitPolicy Policy, bool IsAllowed, long Remaining, TimeSpan Reset, TimeSpan? RetryAfter);

/// <summary>
/// The outcome of a check: allowed or not, and the numbers of the policy that matters (the one that denied, or the
/// most restrictive one when all allowed) for headers such as <c>RateLimit</c> and <c>Retry-After</c>.
/// </summary>
public sealed class RateLimitDecision
{
    private RateLimitPolicyResult[]? _policies;

    internal RateLimitDecision(bool isAllowed, RateLimitPolicyResult[] results, int decidingIndex, RateLimitDecisionSource source)
    {
        IsAllowed = isAllowed;
        _policies = results;
        Deciding = results[decidingIndex];
        Source = source;
    }

    /// <summary>A decision of one policy; <see cref="Policies"/> is built on first read.</summary>
    internal RateLimitDecision(bool isAllowed, RateLimitPolicyResult result, RateLimitDecisionSource source)
    {
        IsAllowed = isAllowed;
        Deciding = result;
        Source = source;
    }

    /// <summary>Whether every policy allowed the request (and its permits were consumed).</summary>
    public bool IsAllowed { get; }

    /// <summary>The result that decided: the first denying policy, or the allowed one with the fewest permits left.</summary>
    public RateLimitPolicyResult Deciding { get; }

    /// <summary>The name of the policy that denied, or <see langword="null"/> when allowed.</summary>
    public string? DeniedBy => IsAllowed ? null : Deciding.Policy.Name;

    /// <summary>The deciding policy's limit.</summary>
    public long Limit => Deciding.Policy.PermitLimit;

    /// <summary>The deciding policy's remaining permits.</summary>
    public long Remaining => Deciding.Remaining;

    /// <summary>The deciding policy's reset time.</summary>
    public TimeSpan Reset => Deciding.Reset;

    /// <summary>When denied, how long to wait before retrying; <see langword="null"/> when allowed or never.</summary>
    public TimeSpan? RetryAfter => Deciding.RetryAfter;

    /// <summary>Every policy's result, in the order given.</summary>
    public IReadOnlyList<RateLimitPolicyResult> Policies => _policies ??= [Deciding];

    /// <summary>Whether Redis decided or, because it failed, the policies' failure modes.</summary>
    public RateLimitDecisionSource Source { get; }

    internal static RateLimitDecision Create(bool isAllowed, RateLimitPolicyResult[] results, RateLimitDecisionSource source)
    {
        var deciding = 0;
        for (var i = 0; i < results.Length; i++)
        {
            if (!isAllowed)
            {
                if (!results[i].IsAllowed)
                {
                    deciding = i;
                    break;
                }
            }
            else if (results[i].Remaining * results[deciding].Policy.PermitLimit < results[deciding].Remaining * results[i].Policy.PermitLimit)
            {
                deciding = i;
            }
        }

        return new RateLimitDecision(isAllowed, results, deciding, source);
    }
}

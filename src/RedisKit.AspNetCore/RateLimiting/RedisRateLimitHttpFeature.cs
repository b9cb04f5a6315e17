using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using RedisKit.RateLimiting;

namespace RedisKit.AspNetCore.RateLimiting;

/// <summary>
/// The rate-limit decisions made for the current request (one per Redis-backed limiter that ran: global and endpoint),
/// available as <c>HttpContext.Features.Get&lt;RedisRateLimitHttpFeature&gt;()</c>. Writes the <c>RateLimit</c>,
/// <c>RateLimit-Policy</c> and <c>X-RateLimit-*</c> headers when the response starts.
/// </summary>
public sealed class RedisRateLimitHttpFeature
{
    // The framework's partitioner runs synchronously right before the limiter's AcquireAsync in the same async flow,
    // but the RateLimiter API has no HttpContext parameter: the partitioner leaves the feature here for it.
    private static readonly AsyncLocal<RedisRateLimitHttpFeature?> Ambient = new();
    private readonly List<RateLimitDecision> _decisions = new(2);

    private RedisRateLimitHttpFeature()
    {
    }

    /// <summary>The decisions in the order they were made.</summary>
    public IReadOnlyList<RateLimitDecision> Decisions
    {
        get
        {
            lock (_decisions)
            {
                return [.. _decisions];
            }
        }
    }

    internal static RedisRateLimitHttpFeature? Current => Ambient.Value;

    internal static void Attach(HttpContext context)
    {
        var feature = context.Features.Get<RedisRateLimitHttpFeature>();
        if (feature is null)
        {
            feature = new RedisRateLimitHttpFeature();
            context.Features.Set(feature);
            context.Response.OnStarting(static state =>
            {
                var http = (HttpContext)state;
                http.Features.Get<RedisRateLimitHttpFeature>()?.WriteHeaders(http.Response.Headers);
                return Task.CompletedTask;
            }, context);
        }

        Ambient.Value = feature;
    }

    internal void Add(RateLimitDecision decision)
    {
        lock (_decisions)
        {
            _decisions.Add(decision);
        }
    }

    /// <summary>
    /// Writes the IETF draft headers (<c>RateLimit-Policy: "name";q=100;w=60</c>, <c>RateLimit: "name";r=42;t=30</c>,
    /// one item per policy) and <c>X-RateLimit-Limit/Remaining/Reset</c> (reset in seconds from now) of the deciding
    /// policy: the one that denied, else the one with the smallest share left.
    /// </summary>
    internal void WriteHeaders(IHeaderDictionary headers)
    {
        var decisions = Decisions;
        if (decisions.Count == 0)
        {
            return;
        }

        var policy = new StringBuilder();
        var state = new StringBuilder();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        RateLimitPolicyResult? deciding = null;
        foreach (var decision in decisions)
        {
            foreach (var result in decision.Policies)
            {
                if (!seen.Add(result.Policy.Name))
                {
                    continue;
                }

                if (policy.Length > 0)
                {
                    policy.Append(", ");
                    state.Append(", ");
                }

                var name = Quote(result.Policy.Name);
                policy.Append(name).Append(";q=").Append(result.Policy.PermitLimit.ToString(CultureInfo.InvariantCulture));
                if (result.Policy.WindowSecondsForHeaders is { } w)
                {
                    policy.Append(";w=").Append(w.ToString(CultureInfo.InvariantCulture));
                }

                state.Append(name).Append(";r=").Append(result.Remaining.ToString(CultureInfo.InvariantCulture))
                    .Append(";t=").Append(Seconds(result.Reset).ToString(CultureInfo.InvariantCulture));
            }

            var candidate = decision.Deciding;
            if (deciding is null || (!candidate.IsAllowed && deciding.Value.IsAllowed) ||
                (candidate.IsAllowed == deciding.Value.IsAllowed && candidate.Remaining * deciding.Value.Policy.PermitLimit < deciding.Value.Remaining * candidate.Policy.PermitLimit))
            {
                deciding = candidate;
            }
        }

        headers["RateLimit-Policy"] = policy.ToString();
        headers["RateLimit"] = state.ToString();
        var d = deciding!.Value;
        headers["X-RateLimit-Limit"] = d.Policy.PermitLimit.ToString(CultureInfo.InvariantCulture);
        headers["X-RateLimit-Remaining"] = d.Remaining.ToString(CultureInfo.InvariantCulture);
        headers["X-RateLimit-Reset"] = Seconds(d.Reset).ToString(CultureInfo.InvariantCulture);
    }

    internal static long Seconds(TimeSpan value) => (long)Math.Ceiling(Math.Max(0, value.TotalSeconds));

    private static string Quote(string name)
    {
        // sf-string: printable ASCII, with '"' and '\' escaped. Policy names are validated to [A-Za-z0-9_.-].
        var builder = new StringBuilder(name.Length + 2).Append('"');
        foreach (var c in name)
        {
            if (c is '"' or '\\')
            {
                builder.Append('\\');
            }

            builder.Append(c is >= ' ' and <= '~' ? c : '_');
        }

        return builder.Append('"').ToString();
    }
}

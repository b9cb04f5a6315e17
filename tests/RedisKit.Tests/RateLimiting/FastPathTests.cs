using System.Text.RegularExpressions;
using RedisKit.RateLimiting;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.RateLimiting;

/// <summary>
/// A check of one windowed policy takes the script's single-policy fast path; a check of several policies takes the
/// generic path. These tests run the same sequence through both, step by step in lockstep on two partitions, and
/// require the same decisions. The generic run adds a companion policy that can never deny, so its result for the
/// policy under test is that policy's own result.
/// </summary>
public partial class FastPathTests
{
    private static readonly RateLimitPolicy Companion = RateLimitPolicy.FixedWindow("companion", int.MaxValue, TimeSpan.FromHours(1));

    public static TheoryData<RateLimitAlgorithm> WindowedAlgorithms =>
    [
        RateLimitAlgorithm.FixedWindow,
        RateLimitAlgorithm.SlidingWindowLog,
        RateLimitAlgorithm.SlidingWindowCounter,
        RateLimitAlgorithm.TokenBucket,
        RateLimitAlgorithm.Gcra,
    ];

    /// <summary>
    /// 5 permits. Fixed window and log: a 2 s window, waited out in the test. Counter, bucket and GCRA: one hour, so
    /// that nothing refills (and no aligned window starts) between the two calls of a step, which would make the two
    /// paths see different states; their behaviour across refills and window edges is covered by
    /// <see cref="RedisRateLimiterTests"/>, whose single-policy checks run on the fast path.
    /// </summary>
    private static RateLimitPolicy Policy(RateLimitAlgorithm algorithm) => algorithm switch
    {
        RateLimitAlgorithm.FixedWindow => RateLimitPolicy.FixedWindow("x", 5, TimeSpan.FromSeconds(2)),
        RateLimitAlgorithm.SlidingWindowLog => RateLimitPolicy.SlidingWindowLog("x", 5, TimeSpan.FromSeconds(2)),
        RateLimitAlgorithm.SlidingWindowCounter => RateLimitPolicy.SlidingWindowCounter("x", 5, TimeSpan.FromHours(1)),
        RateLimitAlgorithm.TokenBucket => RateLimitPolicy.TokenBucket("x", 5, 5, TimeSpan.FromHours(1)),
        _ => RateLimitPolicy.Gcra("x", 5, TimeSpan.FromHours(1)),
    };

    private static void AssertSame(RateLimitDecision fast, RateLimitDecision generic, string step)
    {
        var g = generic.Policies[0];
        Assert.True(fast.IsAllowed == generic.IsAllowed, $"{step}: allowed fast={fast.IsAllowed} generic={generic.IsAllowed}");
        Assert.True(fast.Remaining == g.Remaining, $"{step}: remaining fast={fast.Remaining} generic={g.Remaining}");
        Assert.True(fast.Deciding.IsAllowed == g.IsAllowed, $"{step}: policy allowed");
        Assert.True(fast.RetryAfter.HasValue == g.RetryAfter.HasValue, $"{step}: retry-after fast={fast.RetryAfter} generic={g.RetryAfter}");
        Assert.Equal(RateLimitDecisionSource.Redis, fast.Source);
        Assert.Single(fast.Policies);

        // Reset and retry-after are server-clock durations, read by two calls a few ms apart.
        Assert.InRange(Math.Abs((fast.Reset - g.Reset).TotalMilliseconds), 0, 250);
        if (fast.RetryAfter is { } retry)
        {
            Assert.InRange(Math.Abs((retry - g.RetryAfter!.Value).TotalMilliseconds), 0, 250);
        }
    }

    [Theory]
    [MemberData(nameof(WindowedAlgorithms))]
    public async Task FastPath_SameSequenceAsGenericPath_IdenticalDecisionsAtLimitAndWindowEdge(RateLimitAlgorithm algorithm)
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, prefix);
        await using var _ = provider;
        var policy = Policy(algorithm);
        var fastPartition = "fast-" + algorithm;
        var genericPartition = "generic-" + algorithm;

        // Costs: a peek, singles up to the limit, a weighted request, denials, a cost that can never fit.
        long[] costs = [0, 1, 2, 1, 0, 1, 1, 1, 3, 6, 0];
        var allowed = 0;
        for (var i = 0; i < costs.Length; i++)
        {
            var fast = await limiter.CheckAsync(fastPartition, [policy], costs[i]);
            var generic = await limiter.CheckAsync(genericPartition, [policy, Companion], costs[i]);
            AssertSame(fast, generic, $"{algorithm} step {i} cost {costs[i]}");
            allowed += fast.IsAllowed ? (int)costs[i] : 0;
        }

        Assert.Equal(5, allowed); // exactly the limit inside the window

        if (algorithm is RateLimitAlgorithm.FixedWindow or RateLimitAlgorithm.SlidingWindowLog)
        {
            // Past the edge: one window after the last permit the full quota is back, on both paths alike.
            await Task.Delay(TimeSpan.FromMilliseconds(2100));
            await AfterEdgeAsync(limiter, policy, fastPartition, genericPartition, algorithm);
        }

        Assert.True(await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.RedisClient(), prefix) >= 2);
    }

    private static async Task AfterEdgeAsync(IRedisRateLimiter limiter, RateLimitPolicy policy, string fastPartition, string genericPartition, RateLimitAlgorithm algorithm)
    {
        for (var i = 0; i < 7; i++)
        {
            var fast = await limiter.CheckAsync(fastPartition, [policy]);
            var generic = await limiter.CheckAsync(genericPartition, [policy, Companion]);
            AssertSame(fast, generic, $"{algorithm} after edge step {i}");
            Assert.Equal(i < 5, fast.IsAllowed);
            if (i < 5)
            {
                Assert.Equal(4 - i, fast.Remaining);
            }
        }
    }

    [Fact]
    public async Task FastPath_FixedWindowAtEdge_ExactCountsAndResetMatchesKeyTtl()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, prefix);
        await using var _ = provider;
        var policy = RateLimitPolicy.FixedWindow("fw", 3, TimeSpan.FromMilliseconds(600));

        var first = await limiter.CheckAsync("p", [policy]);
        Assert.True(first.IsAllowed);
        Assert.Equal(2, first.Remaining);
        Assert.Equal(TimeSpan.FromMilliseconds(600), first.Reset); // a new window: its full length
        Assert.True((await limiter.CheckAsync("p", [policy], 2)).IsAllowed);
        var denied = await limiter.CheckAsync("p", [policy]);
        Assert.False(denied.IsAllowed);
        Assert.Equal(0, denied.Remaining);
        Assert.Equal(denied.Reset, denied.RetryAfter);

        // A deny gives its permits back: the counter is still exactly the limit, and the TTL was not extended.
        var database = await Servers.RedisClient();
        var key = $"{prefix}:ratelimit:{{p}}:fw";
        Assert.Equal(3, (long)await database.GetDatabase().StringGetAsync(key));
        var ttl = await database.GetDatabase().KeyTimeToLiveAsync(key);
        Assert.NotNull(ttl);
        Assert.True(ttl <= TimeSpan.FromMilliseconds(600));

        await Task.Delay(denied.RetryAfter!.Value + TimeSpan.FromMilliseconds(30));
        var next = await limiter.CheckAsync("p", [policy], 3);
        Assert.True(next.IsAllowed);
        Assert.Equal(0, next.Remaining);
        Assert.False((await limiter.CheckAsync("p", [policy])).IsAllowed);
    }

    [Fact]
    public async Task FastPath_FixedWindowCostAboveLimitOnNewKey_WritesNothing()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, prefix);
        await using var _ = provider;
        var policy = RateLimitPolicy.FixedWindow("fw", 3, TimeSpan.FromMinutes(1));

        var never = await limiter.CheckAsync("p", [policy], 4);
        var peek = await limiter.CheckAsync("p", [policy], 0);

        Assert.False(never.IsAllowed);
        Assert.Null(never.RetryAfter);
        Assert.True(peek.IsAllowed);
        Assert.Equal(3, peek.Remaining);
        Assert.False(await (await Servers.RedisClient()).GetDatabase().KeyExistsAsync($"{prefix}:ratelimit:{{p}}:fw"));
    }

    /// <summary>
    /// The script runs a call's leading fixed-window checks in a loop of their own, before anything else is defined,
    /// and hands the rest of the call to the general single-policy loop at the first other check: another algorithm
    /// (the first sequence) or a cost of 0 (the second). One call that mixes them must answer, check by check, what
    /// the same checks answer each in a call of its own, on a second set of keys: remaining and retry-after exactly,
    /// reset within the few ms between calls.
    /// </summary>
    [Fact]
    public async Task FastPath_OneCallMixingAlgorithmsAndCosts_AnswersAsSeparateCalls()
    {
        var fixedPolicy = RateLimitPolicy.FixedWindow("f", 3, TimeSpan.FromMinutes(1)).ScriptSpec;
        var otherFixed = RateLimitPolicy.FixedWindow("g", 10, TimeSpan.FromMinutes(2)).ScriptSpec;
        var log = RateLimitPolicy.SlidingWindowLog("l", 2, TimeSpan.FromMinutes(1)).ScriptSpec;
        var counter = RateLimitPolicy.SlidingWindowCounter("c", 5, TimeSpan.FromMinutes(1)).ScriptSpec;

        var together = await OneCallAgainstSeparateCallsAsync(
        [
            ("a", fixedPolicy, 1), ("a", fixedPolicy, 2), ("b", otherFixed, 4), ("a", fixedPolicy, 1), // the leading run
            ("l", log, 1), // ends it
            ("a", fixedPolicy, 1), ("a", fixedPolicy, 0), ("n", fixedPolicy, 4), ("l", log, 2), ("c", counter, 3),
            ("b", otherFixed, 6), ("b", otherFixed, 1), ("a", fixedPolicy, 0),
        ]);

        // What the sequence means: "a" takes 1 + 2 of its 3 permits, then is denied; "n" can never take 4 of 3; the log
        // admits 1 and denies 2 more; "b" takes 4 + 6 of its 10.
        Assert.Equal([2, 0, 6, 0, 1, 0, 0, 3, 1, 2, 0, 0, 0], [.. Enumerable.Range(0, together.Length / 3).Select(i => together[3 * i])]);
        Assert.Equal(-1, together[(3 * 7) + 2]);

        together = await OneCallAgainstSeparateCallsAsync(
        [
            ("a", fixedPolicy, 2), ("a", fixedPolicy, 0), // a peek ends the leading run
            ("a", fixedPolicy, 1), ("a", fixedPolicy, 1), ("b", otherFixed, 11), ("l", log, 1),
        ]);
        Assert.Equal([1, 1, 0, 0, 10, 1], [.. Enumerable.Range(0, together.Length / 3).Select(i => together[3 * i])]);
    }

    /// <summary>Runs the checks in one script call and each in a call of its own, compares, and returns the one call's reply.</summary>
    private static async Task<long[]> OneCallAgainstSeparateCallsAsync((string Key, RedisValue Spec, long Cost)[] checks)
    {
        var database = (await Servers.RedisClient()).GetDatabase();
        var script = RedisScript.FromResource("ratelimit-check");
        var prefix = Servers.NewPrefix();
        var values = new RedisValue[1 + (2 * checks.Length)];
        values[0] = -checks.Length;
        for (var i = 0; i < checks.Length; i++)
        {
            values[1 + (2 * i)] = checks[i].Spec;
            values[2 + (2 * i)] = checks[i].Cost;
        }

        var together = (long[])(await script.EvaluateAsync(database, [.. checks.Select(c => (RedisKey)$"{prefix}:one:{c.Key}")], values))!;
        for (var i = 0; i < checks.Length; i++)
        {
            var alone = (long[])(await script.EvaluateAsync(database, [$"{prefix}:each:{checks[i].Key}"], [-1, checks[i].Spec, checks[i].Cost]))!;
            var step = $"check {i} ({checks[i].Spec}, cost {checks[i].Cost})";
            Assert.True(alone[0] == together[3 * i], $"{step}: remaining alone={alone[0]} together={together[3 * i]}");
            Assert.True(Math.Sign(alone[2]) == Math.Sign(together[(3 * i) + 2]), $"{step}: retry alone={alone[2]} together={together[(3 * i) + 2]}");
            Assert.InRange(Math.Abs(alone[1] - together[(3 * i) + 1]), 0, 1000);
            Assert.InRange(Math.Abs(alone[2] - together[(3 * i) + 2]), 0, 1000);
        }

        return together;
    }

    [Theory]
    [MemberData(nameof(WindowedAlgorithms))]
    public async Task FastPath_1000ConcurrentChecksCoalesced_TwoPartitionsLimitOf100_ExactlyHundredAllowedEach(RateLimitAlgorithm algorithm)
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, prefix);
        await using var _ = provider;
        var policy = algorithm switch
        {
            RateLimitAlgorithm.FixedWindow => RateLimitPolicy.FixedWindow("c", 100, TimeSpan.FromHours(1)),
            RateLimitAlgorithm.SlidingWindowLog => RateLimitPolicy.SlidingWindowLog("c", 100, TimeSpan.FromHours(1)),
            RateLimitAlgorithm.SlidingWindowCounter => RateLimitPolicy.SlidingWindowCounter("c", 100, TimeSpan.FromHours(1)),
            RateLimitAlgorithm.TokenBucket => RateLimitPolicy.TokenBucket("c", 100, 1, TimeSpan.FromHours(1)),
            _ => RateLimitPolicy.Gcra("c", 100, TimeSpan.FromHours(1)),
        };

        var decisions = await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => Task.Run(async () => await limiter.CheckAsync("p" + (i % 2), [policy]))));

        for (var p = 0; p < 2; p++)
        {
            Assert.Equal(100, decisions.Where((d, i) => i % 2 == p).Count(d => d.IsAllowed));
        }

        Assert.Equal(2, await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.RedisClient(), prefix));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task FastPath_SinglePolicyChecks_OneEvalShaEach_AndTakeTheFastPath(bool coalesce)
    {
        await using var server = await RedisServerProcess.StartAsync();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, Servers.NewPrefix(), o => o.CoalesceConcurrentChecks = coalesce);
        await using var _ = provider;
        RateLimitPolicy[] policies =
        [
            RateLimitPolicy.FixedWindow("a", 1000, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.SlidingWindowLog("b", 1000, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.SlidingWindowCounter("c", 1000, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.TokenBucket("d", 1000, 10, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.Gcra("e", 1000, TimeSpan.FromMinutes(1)),
        ];
        await limiter.CheckAsync("warm", [policies[0]]); // loads the script (NOSCRIPT → EVAL once)
        await server.CliAsync("CONFIG", "RESETSTAT");

        foreach (var policy in policies)
        {
            for (var i = 0; i < 10; i++)
            {
                await limiter.CheckAsync("p", [policy]);
            }
        }

        var stats = await server.CliAsync("INFO", "commandstats");
        Assert.Equal(50, Calls(stats, "evalsha"));
        Assert.Equal(0, Calls(stats, "eval"));

        // The fast fixed window counts with INCRBY first; the generic path reads with GET first and never uses INCRBY
        // on a new window. 10 fixed-window checks: 10 INCRBY, no SET; GCRA's 10 GETs are the only GETs.
        Assert.Equal(10, Calls(stats, "incrby"));
        Assert.Equal(10, Calls(stats, "get"));
    }

    private static long Calls(string stats, string command)
    {
        var match = CallsRegex().Matches(stats).FirstOrDefault(m => m.Groups[1].Value == command);
        return match is null ? 0 : long.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"cmdstat_([a-z|]+):calls=(\d+)")]
    private static partial Regex CallsRegex();
}

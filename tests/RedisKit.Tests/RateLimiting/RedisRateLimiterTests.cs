using System.Diagnostics;
using RedisKit.RateLimiting;
using StackExchange.Redis;

namespace RedisKit.Tests.RateLimiting;

public class RedisRateLimiterTests
{
    private static async Task<(Microsoft.Extensions.DependencyInjection.ServiceProvider, IRedisRateLimiter, string)> CreateAsync(Action<RedisRateLimitingOptions>? configure = null)
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, prefix, configure);
        return (provider, limiter, prefix);
    }

    private static async Task<int> CountAllowedAsync(IRedisRateLimiter limiter, string partition, RateLimitPolicy policy, int attempts)
    {
        var allowed = 0;
        for (var i = 0; i < attempts; i++)
        {
            if ((await limiter.CheckAsync(partition, [policy])).IsAllowed)
            {
                allowed++;
            }
        }

        return allowed;
    }

    private static async Task AssertTtlsAsync(string prefix) =>
        await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.RedisClient(), prefix);

    [Fact]
    public async Task FixedWindow_ShortWindow_AllowsExactlyLimitPerWindowAndResetsAtEdge()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var policy = RateLimitPolicy.FixedWindow("fw", 3, TimeSpan.FromMilliseconds(700));

        Assert.Equal(3, await CountAllowedAsync(limiter, "p", policy, 5));
        var denied = await limiter.CheckAsync("p", [policy]);
        Assert.False(denied.IsAllowed);
        Assert.Equal("fw", denied.DeniedBy);
        Assert.Equal(0, denied.Remaining);
        Assert.NotNull(denied.RetryAfter);
        Assert.InRange(denied.RetryAfter!.Value.TotalMilliseconds, 1, 700);

        await Task.Delay(denied.RetryAfter.Value + TimeSpan.FromMilliseconds(30));
        Assert.Equal(3, await CountAllowedAsync(limiter, "p", policy, 5));
        await AssertTtlsAsync(prefix);
    }

    [Fact]
    public async Task FixedWindow_Traffic_DoesNotExtendWindow()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var policy = RateLimitPolicy.FixedWindow("fw", 1000, TimeSpan.FromMilliseconds(800));
        var first = await limiter.CheckAsync("p", [policy]);
        await Task.Delay(300);
        var later = await limiter.CheckAsync("p", [policy]);
        Assert.True(later.Reset < first.Reset - TimeSpan.FromMilliseconds(200), $"reset went from {first.Reset} to {later.Reset}");
        await AssertTtlsAsync(prefix);
    }

    [Fact]
    public async Task SlidingWindowLog_AtWindowEdge_ReleasesExactlyTheExpiredPermits()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        // A 3 s window with the second batch 1.2 s in: a stall of up to 1.8 s on a loaded machine still leaves
        // the first permits inside the window.
        var policy = RateLimitPolicy.SlidingWindowLog("log", 3, TimeSpan.FromMilliseconds(3000));

        Assert.Equal(2, await CountAllowedAsync(limiter, "p", policy, 2));
        await Task.Delay(1200);
        Assert.Equal(1, await CountAllowedAsync(limiter, "p", policy, 3));
        var denied = await limiter.CheckAsync("p", [policy]);
        Assert.False(denied.IsAllowed);
        // About 1.8 s: when the first permits leave, not the third (about 3 s). Timer and server clocks differ by a
        // few ms, so the bound sits between the two.
        Assert.InRange(denied.RetryAfter!.Value.TotalMilliseconds, 1, 2400);

        // The two first permits leave the window; the third is still inside it.
        await Task.Delay(denied.RetryAfter.Value + TimeSpan.FromMilliseconds(40));
        Assert.Equal(2, await CountAllowedAsync(limiter, "p", policy, 4));
        await AssertTtlsAsync(prefix);
    }

    [Fact]
    public async Task SlidingWindowCounter_FullWindow_DeniesWithRetryAfterThenAllows()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var policy = RateLimitPolicy.SlidingWindowCounter("swc", 4, TimeSpan.FromMilliseconds(600));

        Assert.Equal(4, await CountAllowedAsync(limiter, "p", policy, 6));
        var denied = await limiter.CheckAsync("p", [policy]);
        Assert.False(denied.IsAllowed);
        Assert.InRange(denied.RetryAfter!.Value.TotalMilliseconds, 1, 1200);
        await Task.Delay(denied.RetryAfter.Value + TimeSpan.FromMilliseconds(30));
        Assert.True((await limiter.CheckAsync("p", [policy])).IsAllowed);

        // Two full windows later nothing of the old traffic counts.
        await Task.Delay(1300);
        Assert.Equal(4, await CountAllowedAsync(limiter, "p", policy, 6));
        await AssertTtlsAsync(prefix);
    }

    [Fact]
    public async Task TokenBucket_Burst_ThenRefillsAtRate()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var policy = RateLimitPolicy.TokenBucket("tb", 5, 5, TimeSpan.FromMilliseconds(1000)); // 1 token per 200 ms

        Assert.Equal(5, await CountAllowedAsync(limiter, "p", policy, 7));
        var denied = await limiter.CheckAsync("p", [policy]);
        Assert.False(denied.IsAllowed);
        Assert.InRange(denied.RetryAfter!.Value.TotalMilliseconds, 1, 200);
        await Task.Delay(denied.RetryAfter.Value + TimeSpan.FromMilliseconds(20));
        Assert.True((await limiter.CheckAsync("p", [policy])).IsAllowed);
        await AssertTtlsAsync(prefix);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SlidingWindowLog_ManyPermitsExpireAtOnce_AllTrimmedAndCountsExact(bool multiPolicy)
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var policy = RateLimitPolicy.SlidingWindowLog("log", 100, TimeSpan.FromMilliseconds(600));
        RateLimitPolicy[] policies = multiPolicy ? [policy, RateLimitPolicy.FixedWindow("wide", int.MaxValue, TimeSpan.FromHours(1))] : [policy];

        // 70 permits (one weighted request and 10 singles): more than the trim reads in its first chunks.
        Assert.True((await limiter.CheckAsync("p", policies, cost: 60)).IsAllowed);
        for (var i = 0; i < 10; i++)
        {
            Assert.True((await limiter.CheckAsync("p", policies)).IsAllowed);
        }

        var full = await limiter.CheckAsync("p", policies, cost: 31);
        Assert.False(full.IsAllowed);
        Assert.Equal(30, full.Policies[0].Remaining);
        Assert.InRange(full.RetryAfter!.Value.TotalMilliseconds, 1, 600);

        await Task.Delay(700);
        var after = await limiter.CheckAsync("p", policies, cost: 100);
        Assert.True(after.IsAllowed);
        Assert.Equal(0, after.Policies[0].Remaining);
        var key = (await (await Servers.RedisClient()).GetServers()[0].KeysAsync(pattern: prefix + "*log").ToListAsync()).Single();
        Assert.Equal(100, await (await Servers.RedisClient()).GetDatabase().ListLengthAsync(key));
        await AssertTtlsAsync(prefix);
    }

    [Theory]
    [InlineData(false, 1000)]
    [InlineData(true, 1000)]
    [InlineData(false, 4)]
    [InlineData(true, 4)]
    public async Task SlidingWindowLog_TtlSetOnlyWhenTheMarkLeaves_KeyAlwaysOutlivesItsNewestPermitByAWindow(bool multiPolicy, int limit)
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        const int Window = 1000;
        var policy = RateLimitPolicy.SlidingWindowLog("log", limit, TimeSpan.FromMilliseconds(Window));

        // Multi-policy: a fixed window that denies now and then, so the log is sometimes evaluated (and trimmed) without
        // a push. A limit of 4 makes the log deny too (its permits are pushed, then given back).
        RateLimitPolicy[] policies = multiPolicy ? [policy, RateLimitPolicy.FixedWindow("tight", 3, TimeSpan.FromMilliseconds(500))] : [policy];
        var database = (await Servers.RedisClient()).GetDatabase();
        var random = new Random(7);
        RedisKey? key = null;
        const string Snapshot = "return { redis.call('PTTL', KEYS[1]), redis.call('LRANGE', KEYS[1], 0, -1), redis.call('TIME') }";

        // About 5 s of checks at uneven gaps, costs 1 and 2: the marked entry leaves the window again and again, sometimes
        // with later entries left (the newest is marked), sometimes with none (the key is created again).
        var outcomes = new HashSet<bool>();
        for (var i = 0; i < 24; i++)
        {
            outcomes.Add((await limiter.CheckAsync("p", policies, cost: 1 + (i % 2))).IsAllowed);
            key ??= (await (await Servers.RedisClient()).GetServers()[0].KeysAsync(pattern: prefix + "*log").ToListAsync()).SingleOrDefault();
            if (key is { } logKey)
            {
                // One atomic read of the TTL, the entries and the server's clock.
                var snapshot = (RedisResult[])(await database.ScriptEvaluateAsync(Snapshot, [logKey]))!;
                var ttl = (long)snapshot[0];
                var entries = ((RedisResult[])snapshot[1]!).Select(e => (string)e!).ToArray();
                var time = (RedisResult[])snapshot[2]!;
                var now = ((long)time[0] * 1000) + ((long)time[1] / 1000);
                if (entries.Length == 0)
                {
                    Assert.Equal(-2, ttl); // no key
                }
                else
                {
                    Assert.All(entries, e => Assert.Matches("^[0-9]{13}\\.?$", e));
                    Assert.Contains(entries, e => e.EndsWith('.'));
                    var newest = long.Parse(entries[^1].TrimEnd('.'), System.Globalization.CultureInfo.InvariantCulture);

                    // Every entry counts until a window after it was pushed; the newest is the last to leave.
                    Assert.True(now + ttl + 1 >= newest + Window, $"check {i}: TTL {ttl} ms, newest entry {now - newest} ms old");
                    Assert.InRange(ttl, 1, 2 * Window);
                }
            }

            await Task.Delay(random.Next(0, i % 8 == 7 ? 1300 : 400));
        }

        if (limit == 4)
        {
            Assert.Equal(2, outcomes.Count); // both allowed and denied checks happened
        }

        await AssertTtlsAsync(prefix);
    }

    [Fact]
    public async Task SlidingWindowLog_OneExpiredEntryLeftAtTheHead_IsNotCounted_RetryAfterFromTheOldestLiveEntry()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var policy = RateLimitPolicy.SlidingWindowLog("log", 3, TimeSpan.FromSeconds(3));
        await limiter.CheckAsync("warm-up", [policy]);

        // The clock starts after the first permit was stamped (by the server), so each later check is at least as far
        // from it as the schedule says; where a late check would change the outcome the schedule leaves 1 s.
        Assert.True((await limiter.CheckAsync("p", [policy])).IsAllowed);
        var clock = Stopwatch.StartNew();
        async Task At(int ms) => await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, ms - clock.ElapsedMilliseconds)));

        // Permits at 0, 0.5 s and 2.5 s; at 3.1 s the first has left the window, so a fourth fits.
        await At(500);
        Assert.True((await limiter.CheckAsync("p", [policy])).IsAllowed);
        await At(2500);
        Assert.True((await limiter.CheckAsync("p", [policy])).IsAllowed);
        await At(3100);
        Assert.True((await limiter.CheckAsync("p", [policy])).IsAllowed);

        // At 4.5 s the 0.5 s permit is out of the window too, but a single expired entry (not the marked one) stays at
        // the head until the next trim. It must not count: the 2.5 s and 3.1 s permits leave room for one more. The
        // next check is denied, and its retry-after comes from the 2.5 s permit (free at 5.5 s), not the expired head.
        await At(4500);
        var last = await limiter.CheckAsync("p", [policy]);
        Assert.True(last.IsAllowed);
        Assert.Equal(0, last.Remaining);
        var denied = await limiter.CheckAsync("p", [policy]);
        Assert.False(denied.IsAllowed);
        Assert.Equal(0, denied.Remaining);

        // Bounds on the server's own timeline, so a stalled test cannot move them: the retry-after was computed after
        // the newest permit E was stamped and before the TIME read below, from the 2.5 s permit C (third from the end).
        var database = (await Servers.RedisClient()).GetDatabase();
        var key = ((RedisRateLimiter)limiter).KeyFor("p", policy);
        var entries = (await database.ListRangeAsync(key)).Select(e => long.Parse(((string)e!).TrimEnd('.'), System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var time = (RedisResult[])(await database.ExecuteAsync("TIME"))!;
        var now = ((long)time[0] * 1000) + ((long)time[1] / 1000);
        var (c, e) = (entries[^3], entries[^1]);
        Assert.InRange(denied.RetryAfter!.Value.TotalMilliseconds, c + 3000 - now, c + 3000 - e);
        await AssertTtlsAsync(prefix);
    }

    [Fact]
    public async Task Gcra_Burst_ThenEvenlySpaced()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;

        // 3 s apart, burst 5. Intervals of seconds and bounds taken from the server's own retry-after (less the time
        // that passed here) keep the test true on a machine that stalls for a few hundred ms.
        const double Interval = 3000;
        var policy = RateLimitPolicy.Gcra("gcra", 5, TimeSpan.FromSeconds(15));
        var burstStart = Stopwatch.StartNew();
        var first = await limiter.CheckAsync("p", [policy]);
        Assert.True(first.IsAllowed);
        Assert.Equal(4, first.Remaining);
        Assert.Equal(4, await CountAllowedAsync(limiter, "p", policy, 6));

        // The burst is spent: the next permit comes one interval after the burst began.
        var denied = await limiter.CheckAsync("p", [policy]);
        Assert.False(denied.IsAllowed);
        Assert.InRange(denied.RetryAfter!.Value.TotalMilliseconds, Interval - burstStart.Elapsed.TotalMilliseconds - 50, Interval);

        // Then exactly one permit per interval: the one after next comes one interval after the slot that opened.
        var sinceDenied = Stopwatch.StartNew();
        await Task.Delay(denied.RetryAfter.Value + TimeSpan.FromMilliseconds(50));
        var next = await limiter.CheckAsync("p", [policy]);
        Assert.True(next.IsAllowed);
        Assert.Equal(0, next.Remaining);
        var after = await limiter.CheckAsync("p", [policy]);
        Assert.False(after.IsAllowed);
        var slotOpened = sinceDenied.Elapsed.TotalMilliseconds - denied.RetryAfter.Value.TotalMilliseconds;
        Assert.InRange(after.RetryAfter!.Value.TotalMilliseconds, Interval - slotOpened - 50, Interval);
        await AssertTtlsAsync(prefix);
    }

    [Theory]
    [InlineData(RateLimitAlgorithm.FixedWindow)]
    [InlineData(RateLimitAlgorithm.SlidingWindowLog)]
    [InlineData(RateLimitAlgorithm.SlidingWindowCounter)]
    [InlineData(RateLimitAlgorithm.TokenBucket)]
    [InlineData(RateLimitAlgorithm.Gcra)]
    public async Task WeightedCost_TakesThatManyPermits_AndACostAboveTheLimitNeverFits(RateLimitAlgorithm algorithm)
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var policy = new RateLimitPolicy { Name = "w", Algorithm = algorithm, PermitLimit = 10, Window = TimeSpan.FromDays(1) };

        var four = await limiter.CheckAsync("p", [policy], cost: 4);
        Assert.True(four.IsAllowed);
        Assert.Equal(6, four.Remaining);
        Assert.False((await limiter.CheckAsync("p", [policy], cost: 7)).IsAllowed);
        var six = await limiter.CheckAsync("p", [policy], cost: 6);
        Assert.True(six.IsAllowed);
        Assert.Equal(0, six.Remaining);

        var tooBig = await limiter.CheckAsync("other", [policy], cost: 11);
        Assert.False(tooBig.IsAllowed);
        Assert.Null(tooBig.RetryAfter);
        await AssertTtlsAsync(prefix);
    }

    [Fact]
    public async Task CostZero_ReportsStateWithoutConsumingOrWriting()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var policy = RateLimitPolicy.FixedWindow("fw", 5, TimeSpan.FromMinutes(1));

        var peek = await limiter.CheckAsync("p", [policy], cost: 0);
        Assert.True(peek.IsAllowed);
        Assert.Equal(5, peek.Remaining);
        Assert.Equal(0, await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.RedisClient(), prefix));
    }

    [Fact]
    public async Task MultiPolicy_DeniedByOne_ConsumesNothingFromTheOther()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var perSecond = RateLimitPolicy.SlidingWindowLog("per-second", 2, TimeSpan.FromMinutes(1));
        var perDay = RateLimitPolicy.FixedWindow("per-day", 100, TimeSpan.FromDays(1));
        RateLimitPolicy[] both = [perDay, perSecond];

        Assert.True((await limiter.CheckAsync("user-1", both)).IsAllowed);
        Assert.True((await limiter.CheckAsync("user-1", both)).IsAllowed);
        for (var i = 0; i < 5; i++)
        {
            var denied = await limiter.CheckAsync("user-1", both);
            Assert.False(denied.IsAllowed);
            Assert.Equal("per-second", denied.DeniedBy);
            Assert.True(denied.Policies[0].IsAllowed);
        }

        var day = await limiter.CheckAsync("user-1", [perDay], cost: 0);
        Assert.Equal(98, day.Remaining);
        await AssertTtlsAsync(prefix);
    }

    [Fact]
    public async Task MultiPolicy_EveryAlgorithmTogether_AllOrNothing()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        RateLimitPolicy[] all =
        [
            RateLimitPolicy.FixedWindow("a", 50, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.SlidingWindowLog("b", 50, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.SlidingWindowCounter("c", 50, TimeSpan.FromDays(1)),
            RateLimitPolicy.TokenBucket("d", 50, 1, TimeSpan.FromDays(1)),
            RateLimitPolicy.Gcra("e", 50, TimeSpan.FromDays(1)),
            RateLimitPolicy.Concurrency("f", 3, TimeSpan.FromSeconds(10)),
        ];

        var leases = new List<RedisRateLimitLease>();
        for (var i = 0; i < 3; i++)
        {
            var lease = await limiter.AcquireAsync("p", all);
            Assert.True(lease.IsAcquired);
            leases.Add(lease);
        }

        var denied = await limiter.AcquireAsync("p", all);
        Assert.False(denied.IsAcquired);
        Assert.Equal("f", denied.Decision.DeniedBy);
        foreach (var policy in all[..5])
        {
            var state = await limiter.CheckAsync("p", [policy], cost: 0);
            Assert.Equal(47, state.Remaining);
        }

        Assert.Equal(6, await RateLimitTestKit.AssertAllKeysHaveTtlAsync(await Servers.RedisClient(), prefix));
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        Assert.True((await limiter.AcquireAsync("p", all)).IsAcquired);
    }

    [Fact]
    public async Task Check_ConfiguredPolicyByName_UsesIt_AndUnknownNameThrows()
    {
        var (provider, limiter, prefix) = await CreateAsync(o => o.AddPolicy(RateLimitPolicy.FixedWindow("login", 5, TimeSpan.FromMinutes(15))));
        await using var _ = provider;
        var decision = await limiter.CheckAsync("alice", "login");
        Assert.True(decision.IsAllowed);
        Assert.Equal(5, decision.Limit);
        Assert.Equal(4, decision.Remaining);
        Assert.InRange(decision.Reset.TotalMinutes, 14.9, 15);
        await Assert.ThrowsAsync<KeyNotFoundException>(async () => await limiter.CheckAsync("alice", "nope"));
        await Assert.ThrowsAsync<ArgumentException>(async () => await limiter.CheckAsync("alice", [RateLimitPolicy.Concurrency("c", 1, TimeSpan.FromSeconds(1))]));
        await AssertTtlsAsync(prefix);
    }

    [Theory]
    [InlineData(RateLimitAlgorithm.FixedWindow)]
    [InlineData(RateLimitAlgorithm.SlidingWindowLog)]
    [InlineData(RateLimitAlgorithm.SlidingWindowCounter)]
    [InlineData(RateLimitAlgorithm.TokenBucket)]
    [InlineData(RateLimitAlgorithm.Gcra)]
    [InlineData(RateLimitAlgorithm.Concurrency)]
    public async Task Concurrent_1000RequestsFromTwoInstances_LimitOf100_ExactlyHundredAllowed(RateLimitAlgorithm algorithm)
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var (providerA, limiterA) = RateLimitTestKit.Build(server.ConnectionString, prefix);
        var (providerB, limiterB) = RateLimitTestKit.Build(server.ConnectionString, prefix);
        await using var a = providerA;
        await using var b = providerB;
        var policy = new RateLimitPolicy
        {
            Name = "hundred",
            Algorithm = algorithm,
            PermitLimit = 100,
            Window = TimeSpan.FromDays(1),
            TokensPerPeriod = 1,
            LeaseTtl = TimeSpan.FromSeconds(30),
        };

        var start = new TaskCompletionSource();
        var tasks = Enumerable.Range(0, 1000).Select(async i =>
        {
            await start.Task;
            var lease = await (i % 2 == 0 ? limiterA : limiterB).AcquireAsync("shared", [policy]);
            return lease;
        }).ToArray();
        start.SetResult();
        var leases = await Task.WhenAll(tasks);

        Assert.Equal(100, leases.Count(l => l.IsAcquired));
        Assert.All(leases, l => Assert.Equal(RateLimitDecisionSource.Redis, l.Decision.Source));
        await AssertTtlsAsync(prefix);
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }
    }

    [Fact]
    public async Task Partitions_AreIndependent_AndUserTextCannotChooseTheSlot()
    {
        var (provider, limiter, prefix) = await CreateAsync();
        await using var _ = provider;
        var policy = RateLimitPolicy.FixedWindow("fw", 1, TimeSpan.FromMinutes(1));
        Assert.True((await limiter.CheckAsync("a}{b", [policy])).IsAllowed);
        Assert.True((await limiter.CheckAsync("a", [policy])).IsAllowed);
        Assert.False((await limiter.CheckAsync("a}{b", [policy])).IsAllowed);
        var redis = await Servers.RedisClient();
        var keys = new List<string>();
        await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: prefix + ":ratelimit:*"))
        {
            keys.Add(key!);
        }

        Assert.Contains(prefix + ":ratelimit:{a%7D%7Bb}:fw", keys);
        await AssertTtlsAsync(prefix);
    }
}

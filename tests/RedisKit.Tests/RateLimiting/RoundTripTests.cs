using System.Text.RegularExpressions;
using RedisKit.RateLimiting;
using RedisKit.Testing;

namespace RedisKit.Tests.RateLimiting;

public partial class RoundTripTests
{
    [Fact]
    public async Task Check_EveryAlgorithmAndMultiPolicy_IsExactlyOneEvalShaPerCheck()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, Servers.NewPrefix());
        await using var _ = provider;
        RateLimitPolicy[] policies =
        [
            RateLimitPolicy.FixedWindow("a", 1000, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.SlidingWindowLog("b", 1000, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.SlidingWindowCounter("c", 1000, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.TokenBucket("d", 1000, 10, TimeSpan.FromMinutes(1)),
            RateLimitPolicy.Gcra("e", 1000, TimeSpan.FromMinutes(1)),
        ];
        await limiter.CheckAsync("warm", policies); // loads the script (NOSCRIPT → EVAL once)
        await server.CliAsync("CONFIG", "RESETSTAT");

        foreach (var policy in policies)
        {
            for (var i = 0; i < 10; i++)
            {
                await limiter.CheckAsync("p", [policy]);
            }
        }

        for (var i = 0; i < 10; i++)
        {
            await limiter.CheckAsync("p", policies);
        }

        var stats = await server.CliAsync("INFO", "commandstats");
        Assert.Equal(60, Calls(stats, "evalsha"));
        Assert.Equal(0, Calls(stats, "eval"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Concurrent_WithAndWithoutCoalescing_ExactCounts_CoalescingUsesFewerCalls(bool coalesce)
    {
        await using var server = await RedisServerProcess.StartAsync();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, Servers.NewPrefix(), o => o.CoalesceConcurrentChecks = coalesce);
        await using var _ = provider;
        var policy = RateLimitPolicy.SlidingWindowLog("log", 100, TimeSpan.FromMinutes(1));
        await limiter.CheckAsync("warm", [policy]);
        await server.CliAsync("CONFIG", "RESETSTAT");

        var decisions = await Task.WhenAll(Enumerable.Range(0, 500).Select(i => Task.Run(async () => await limiter.CheckAsync("p" + (i % 5), [policy]))));

        for (var p = 0; p < 5; p++)
        {
            Assert.Equal(100, decisions.Where((d, i) => i % 5 == p).Count(d => d.IsAllowed));
        }

        var calls = Calls(await server.CliAsync("INFO", "commandstats"), "evalsha");
        if (coalesce)
        {
            Assert.InRange(calls, 1, 499);
        }
        else
        {
            Assert.Equal(500, calls);
        }
    }

    private static long Calls(string stats, string command)
    {
        var match = CallsRegex().Matches(stats).FirstOrDefault(m => m.Groups[1].Value == command);
        return match is null ? 0 : long.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"cmdstat_([a-z|]+):calls=(\d+)")]
    private static partial Regex CallsRegex();
}

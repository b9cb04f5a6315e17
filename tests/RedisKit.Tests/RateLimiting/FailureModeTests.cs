using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RedisKit.RateLimiting;
using RedisKit.Testing;

namespace RedisKit.Tests.RateLimiting;

public class FailureModeTests
{
    [Fact]
    public async Task Check_ServerStopped_EachPolicyAppliesItsFailureMode_LoggedAndCounted_ThenRedisAgain()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        services.AddRedisKit(o =>
        {
            o.ConnectionString = server.ConnectionString;
            o.KeyPrefix = Servers.NewPrefix();
            OutageReadyOptions.Apply(o);
        }).AddRateLimiting();
        await using var provider = services.BuildServiceProvider();
        var limiter = provider.GetRequiredService<IRedisRateLimiter>();

        var failures = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == RedisKitDiagnostics.MeterName && instrument.Name == RedisRateLimitingInstruments.RedisFailures)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "failure_mode")
                {
                    lock (failures)
                    {
                        failures[(string)tag.Value!] = failures.GetValueOrDefault((string)tag.Value!) + value;
                    }
                }
            }
        });
        listener.Start();

        var open = RateLimitPolicy.FixedWindow("open", 1, TimeSpan.FromMinutes(1)).WithFailureMode(RateLimitFailureMode.FailOpen);
        var closed = RateLimitPolicy.FixedWindow("closed", 100, TimeSpan.FromMinutes(1)).WithFailureMode(RateLimitFailureMode.FailClosed);
        var local = RateLimitPolicy.FixedWindow("local", 2, TimeSpan.FromMinutes(1)).WithFailureMode(RateLimitFailureMode.LocalFallback);
        Assert.True((await limiter.CheckAsync("p", [open])).IsAllowed);
        Assert.False((await limiter.CheckAsync("p", [open])).IsAllowed);

        await server.StopAsync();

        var openDecisions = new List<RateLimitDecision>();
        for (var i = 0; i < 3; i++)
        {
            openDecisions.Add(await limiter.CheckAsync("p", [open]));
        }

        Assert.All(openDecisions, d => Assert.True(d.IsAllowed));
        Assert.All(openDecisions, d => Assert.Equal(RateLimitDecisionSource.FailureMode, d.Source));

        var closedDecision = await limiter.CheckAsync("p", [closed]);
        Assert.False(closedDecision.IsAllowed);
        Assert.Equal("closed", closedDecision.DeniedBy);
        Assert.Equal(TimeSpan.FromSeconds(1), closedDecision.RetryAfter);

        var localAllowed = 0;
        for (var i = 0; i < 5; i++)
        {
            if ((await limiter.CheckAsync("p", [local])).IsAllowed)
            {
                localAllowed++;
            }
        }

        Assert.Equal(2, localAllowed);
        Assert.True((await limiter.CheckAsync("other", [local])).IsAllowed);

        // Mixed: fail-closed denies, so the local fallback must not consume.
        Assert.False((await limiter.CheckAsync("mixed", [local, closed])).IsAllowed);
        Assert.Equal(2, await CountAsync(limiter, "mixed", local, 4));

        listener.RecordObservableInstruments();
        lock (failures)
        {
            Assert.Equal(3, failures.GetValueOrDefault("fail_open"));
            Assert.Equal(2, failures.GetValueOrDefault("fail_closed"));
            Assert.True(failures.GetValueOrDefault("local_fallback") >= 10);
        }

        Assert.Contains(logs.Entries, e => e.EventId.Id == 5001 && e.Level == LogLevel.Warning);

        await server.StartAgainAsync();
        var back = await TestHost.EventuallyAsync(async () =>
        {
            var decision = await limiter.CheckAsync("p", [open]);
            return decision.Source == RateLimitDecisionSource.Redis ? decision : throw new InvalidOperationException("still failing");
        }, TimeSpan.FromSeconds(15));
        Assert.True(back.IsAllowed); // the restarted server has no data (no persistence)
        Assert.Contains(logs.Entries, e => e.EventId.Id == 5002);
    }

    [Fact]
    public async Task Acquire_ConcurrencyWithLocalFallback_ServerStopped_HoldsLocalLeasesUntilDisposed()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var (provider, limiter) = RateLimitTestKit.Build(server.ConnectionString, Servers.NewPrefix());
        await using var _ = provider;
        var policy = RateLimitPolicy.Concurrency("c", 1, TimeSpan.FromSeconds(5)).WithFailureMode(RateLimitFailureMode.LocalFallback);
        await limiter.CheckAsync("warm", [RateLimitPolicy.FixedWindow("w", 1, TimeSpan.FromSeconds(1))]);

        await server.StopAsync();
        var first = await limiter.AcquireAsync("p", [policy]);
        Assert.True(first.IsAcquired);
        Assert.Equal(RateLimitDecisionSource.FailureMode, first.Decision.Source);
        await using (var second = await limiter.AcquireAsync("p", [policy]))
        {
            Assert.False(second.IsAcquired);
        }

        await first.DisposeAsync();
        await using var third = await limiter.AcquireAsync("p", [policy]);
        Assert.True(third.IsAcquired);
    }

    private static async Task<int> CountAsync(IRedisRateLimiter limiter, string partition, RateLimitPolicy policy, int attempts)
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
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RedisKit.Leaderboards;
using RedisKit.Testing;

namespace RedisKit.Tests.Leaderboards;

public class LeaderboardStartupTests
{
    private static IHost BuildHost(string connectionString, Dictionary<string, string?> settings, CapturingLoggerProvider? logs = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        settings["RedisKit:ConnectionString"] = connectionString;
        settings["RedisKit:KeyPrefix"] = Servers.NewPrefix();
        builder.Configuration.AddInMemoryCollection(settings);
        if (logs is not null)
        {
            builder.Logging.ClearProviders().AddProvider(logs);
        }

        builder.Services.AddRedisKit().AddLeaderboards().AddDataStructures();
        return builder.Build();
    }

    [Fact]
    public async Task Start_OnGarnet_LogsRanksAreLinearWarning()
    {
        var logs = new CapturingLoggerProvider();
        using var host = BuildHost(Servers.Garnet().ConnectionString, new() { ["RedisKit:GarnetLuaTransactionMode"] = "true" }, logs);

        await host.StartAsync();
        await host.StopAsync();

        var warning = Assert.Single(logs.Entries, e => e.EventId.Id == 7000);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("O(N)", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_OnRedis_DoesNotWarn()
    {
        var logs = new CapturingLoggerProvider();
        using var host = BuildHost((await Servers.Redis()).ConnectionString, [], logs);

        await host.StartAsync();
        await host.StopAsync();

        Assert.DoesNotContain(logs.Entries, e => e.EventId.Id == 7000);
    }

    [Fact]
    public async Task Start_OnGarnetWithoutAtomicLua_FailsNamingLeaderboards()
    {
        using var host = BuildHost(Servers.Garnet().ConnectionString, []);

        var ex = await Assert.ThrowsAsync<RedisKitCapabilityException>(() => host.StartAsync());

        Assert.Contains("leaderboards", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("RedisKit:Leaderboards:MaxPageSize", "0", "MaxPageSize")]
    [InlineData("RedisKit:Leaderboards:TieBreakTimeBits", "50", "TieBreakTimeBits")]
    [InlineData("RedisKit:Leaderboards:MaxMemberLength", "0", "MaxMemberLength")]
    [InlineData("RedisKit:Leaderboards:DailyRetention", "400.00:00:00", "DailyRetention")]
    [InlineData("RedisKit:Leaderboards:Windows", "8", "Windows")]
    public async Task Start_InvalidOption_FailsNamingTheSetting(string setting, string value, string expected)
    {
        using var host = BuildHost((await Servers.Redis()).ConnectionString, new() { [setting] = value });

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Operations_RecordDurationHistogram()
    {
        var measurements = new ConcurrentQueue<(string Operation, string Outcome)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == LeaderboardMetrics.OperationDuration)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
        {
            string? op = null, outcome = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "operation")
                {
                    op = (string?)tag.Value;
                }
                else if (tag.Key == "outcome")
                {
                    outcome = (string?)tag.Value;
                }
            }

            measurements.Enqueue((op!, outcome!));
        });
        listener.Start();
        await using var fixture = await BoardFixture.RedisAsync();
        var board = fixture.Boards.Get("metrics");

        await board.SetScoreAsync("a", 1);
        await board.GetTopAsync(10);

        Assert.Contains(("set", "success"), measurements);
        Assert.Contains(("top", "success"), measurements);
    }
}

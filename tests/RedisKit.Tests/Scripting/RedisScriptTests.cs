using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Scripting;

public class RedisScriptTests
{
    private static readonly RedisScript IncrementBoth = new("increment-both", """
        local a = redis.call('INCRBY', KEYS[1], ARGV[1])
        local b = redis.call('INCRBY', KEYS[2], ARGV[1])
        redis.call('PEXPIRE', KEYS[1], 60000)
        redis.call('PEXPIRE', KEYS[2], 60000)
        return {a, b}
        """);

    [Fact]
    public async Task Evaluate_AfterScriptFlush_ReloadsAndSucceeds()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = TestHost.Build(server.ConnectionString);
        var reloads = 0L;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == RedisKitDiagnostics.ScriptReloads)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref reloads, value));
        listener.Start();
        var connection = provider.GetRequiredService<IRedisConnection>();
        var database = await connection.GetDatabaseAsync();
        var a = connection.Keys.TaggedKey("test", "t", "a");
        var b = connection.Keys.TaggedKey("test", "t", "b");

        var first = (long[])(await IncrementBoth.EvaluateAsync(database, [a, b], [1]))!;
        await server.CliAsync("SCRIPT", "FLUSH");
        var second = (long[])(await IncrementBoth.EvaluateAsync(database, [a, b], [1]))!;
        var third = (long[])(await IncrementBoth.EvaluateAsync(database, [a, b], [1]))!;

        Assert.Equal([1L, 1L], first);
        Assert.Equal([2L, 2L], second);
        Assert.Equal([3L, 3L], third);
        Assert.True(Interlocked.Read(ref reloads) >= 2, "the first run and the run after SCRIPT FLUSH both reload");
        Assert.Equal("1", (await server.CliAsync("SCRIPT", "EXISTS", IncrementBoth.Sha1Hex)).Trim());
    }

    [Fact]
    public async Task Evaluate_MultiKeyScriptOnHashTaggedKeys_WorksOnCluster()
    {
        var cluster = await Servers.Cluster();
        await using var provider = TestHost.Build(cluster.ConnectionString);
        var connection = provider.GetRequiredService<IRedisConnection>();
        var database = await connection.GetDatabaseAsync();

        // Many tags spread over every primary; each script touches two keys of one tag.
        for (var i = 0; i < 30; i++)
        {
            var tag = "user-" + i;
            var result = (long[])(await IncrementBoth.EvaluateAsync(database, [connection.Keys.TaggedKey("test", tag, "a"), connection.Keys.TaggedKey("test", tag, "b")], [5]))!;
            Assert.Equal([5L, 5L], result);
        }
    }

    [Fact]
    public async Task Evaluate_MultiKeyScriptWithoutTag_FailsOnClusterWithCrossSlot()
    {
        var cluster = await Servers.Cluster();
        await using var provider = TestHost.Build(cluster.ConnectionString);
        var connection = provider.GetRequiredService<IRedisConnection>();
        var database = await connection.GetDatabaseAsync();

        // Why hash tags matter: untagged keys in different slots are refused.
        // StackExchange.Redis refuses it before sending (RedisCommandException); a raw client gets CROSSSLOT.
        var ex = await Assert.ThrowsAnyAsync<Exception>(() =>
            IncrementBoth.EvaluateAsync(database, [connection.Keys.Key("test", "a"), connection.Keys.Key("test", "b-different")], [1]));
        Assert.Contains("slot", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void FromResource_MissingResource_ThrowsNamingIt()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => RedisScript.FromResource(typeof(RedisScriptTests).Assembly, "nope.lua"));

        Assert.Contains("nope.lua", ex.Message, StringComparison.Ordinal);
    }
}

using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Connection;

public class ReconnectTests
{
    [Fact]
    public async Task Command_AfterServerRestart_SucceedsAgainWithinSeconds()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = TestHost.Build(server.ConnectionString);
        var connection = provider.GetRequiredService<IRedisConnection>();
        var database = await connection.GetDatabaseAsync();
        await database.StringSetAsync("k", "before");

        await server.StopAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => database.StringGetAsync("k"));
        await server.StartAgainAsync();
        var clock = Stopwatch.StartNew();
        var value = await TestHost.EventuallyAsync(async () =>
        {
            await database.StringSetAsync("k", "after");
            return (string?)await database.StringGetAsync("k");
        }, TimeSpan.FromSeconds(10));

        Assert.Equal("after", value);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Connect_ServerDownAtStart_DoesNotThrowAndConnectsWhenServerArrives()
    {
        var port = RedisBinaries.FreePort();
        await using var provider = TestHost.Build($"127.0.0.1:{port}", options: o => o.ConnectTimeout = TimeSpan.FromMilliseconds(300));
        var connection = provider.GetRequiredService<IRedisConnection>();

        var multiplexer = await connection.GetMultiplexerAsync();
        Assert.False(multiplexer.IsConnected);
        await Assert.ThrowsAnyAsync<RedisException>(async () => await connection.GetCapabilitiesAsync());

        await using var server = await RedisServerProcess.StartAsync(port: port);
        var capabilities = await TestHost.EventuallyAsync(async () => await connection.GetCapabilitiesAsync(), TimeSpan.FromSeconds(15));
        Assert.Equal(RedisEngine.Redis, capabilities.Engine);
    }

    [Fact]
    public async Task Dispose_OwnedMultiplexer_IsClosed_SuppliedOneIsNot()
    {
        var server = await Servers.Redis();
        IConnectionMultiplexer owned;
        await using (var provider = TestHost.Build(server.ConnectionString))
        {
            owned = await provider.GetRequiredService<IRedisConnection>().GetMultiplexerAsync();
            Assert.True(owned.IsConnected);
        }

        Assert.False(owned.IsConnected);

        await using var supplied = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        await using (var provider = TestHost.Build("unused:1", configure: b => b.UseConnection(supplied)))
        {
            var database = await provider.GetRequiredService<IRedisConnection>().GetDatabaseAsync();
            await database.PingAsync();
        }

        Assert.True(supplied.IsConnected);
    }
}

using Microsoft.Extensions.DependencyInjection;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Connection;

/// <summary><c>FailFastWhenDisconnected</c>: what a command does while the only server is stopped.</summary>
public class FailFastTests
{
    [Fact]
    public async Task FailFastOn_ServerStopped_CommandRefusedWithoutQueueing_ThenWorksAfterRestart()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = TestHost.Build(server.ConnectionString, options: o =>
        {
            o.FailFastWhenDisconnected = true;
            o.CommandTimeout = TimeSpan.FromSeconds(30);
        });
        var connection = provider.GetRequiredService<IRedisConnection>();
        var database = await connection.GetDatabaseAsync();
        await database.StringSetAsync("k", "v");
        var multiplexer = await connection.GetMultiplexerAsync();

        await server.StopAsync();
        await TestHost.EventuallyAsync(() => multiplexer.IsConnected ? throw new InvalidOperationException("still connected") : Task.FromResult(true), TimeSpan.FromSeconds(10));

        // Refused by the client at once: "No connection is active/available", not a backlog timeout
        // (which would take the 30 s command timeout).
        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => database.StringGetAsync("k"));
        Assert.DoesNotContain("backlog", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("No connection is active/available", error.Message, StringComparison.Ordinal);

        await server.StartAgainAsync();
        var value = await TestHost.EventuallyAsync(async () =>
        {
            await database.StringSetAsync("k", "again");
            return (string?)await database.StringGetAsync("k");
        }, TimeSpan.FromSeconds(15));
        Assert.Equal("again", value);
    }

    [Fact]
    public async Task FailFastOff_ServerStopped_CommandWaitsInBacklogUntilCommandTimeout()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = TestHost.Build(server.ConnectionString, options: o => o.CommandTimeout = TimeSpan.FromMilliseconds(500));
        var connection = provider.GetRequiredService<IRedisConnection>();
        var database = await connection.GetDatabaseAsync();
        await database.StringSetAsync("k", "v");
        var multiplexer = await connection.GetMultiplexerAsync();

        await server.StopAsync();
        await TestHost.EventuallyAsync(() => multiplexer.IsConnected ? throw new InvalidOperationException("still connected") : Task.FromResult(true), TimeSpan.FromSeconds(10));

        var error = await Assert.ThrowsAnyAsync<RedisException>(() => database.StringGetAsync("k"));
        Assert.Contains("backlog", error.Message, StringComparison.OrdinalIgnoreCase);
    }
}

using Microsoft.Extensions.DependencyInjection;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Messaging;

public class MessagingRedisDownTests
{
    [Fact]
    public async Task PublishAndAdd_RedisStopped_ThrowInsteadOfBuffering()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = TestHost.Build(server.ConnectionString, Servers.NewPrefix(), b => b.AddMessaging());
        var bus = provider.GetRequiredService<IMessageBus>();
        var producer = provider.GetRequiredService<IStreamProducer>();
        await bus.PublishAsync("c", new Order(1, "x"));
        await producer.AddAsync("s", new Order(1, "x"));

        await server.StopAsync();

        var publish = await Assert.ThrowsAnyAsync<Exception>(() => bus.PublishAsync("c", new Order(2, "x")));
        var add = await Assert.ThrowsAnyAsync<Exception>(() => producer.AddAsync("s", new Order(2, "x")));

        Assert.True(publish is RedisException or TimeoutException, publish.GetType().Name);
        Assert.True(add is RedisException or TimeoutException, add.GetType().Name);
    }

    [Fact]
    public async Task Consumer_RedisDownForAWhile_KeepsRetryingAndResumes()
    {
        await using var server = await RedisServerProcess.StartAsync(["--appendonly", "yes", "--appendfsync", "always"]);
        var prefix = Servers.NewPrefix();
        var probe = new StreamProbe();
        using var host = MessagingHost.Build(server.ConnectionString, prefix, probe, "down", "g", "c1");
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IStreamProducer>();
        await producer.AddAsync("down", new Order(1, "x"));
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.ContainsKey(1), TimeSpan.FromSeconds(10), "entry before outage");

        await server.StopAsync();
        await Task.Delay(1500); // the consumer's reads fail meanwhile; it must not stop
        await server.StartAgainAsync();

        await TestHost.EventuallyAsync(() => producer.AddAsync("down", new Order(2, "x")), TimeSpan.FromSeconds(15));
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.ContainsKey(2), TimeSpan.FromSeconds(15), "entry after outage");
        await host.StopAsync();
        Assert.Equal(1, probe.HandledOrders[1]);
    }
}

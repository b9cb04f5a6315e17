using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Messaging;

public class PubSubTests
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);

    private static ServiceProvider Build(string connectionString, string prefix, Action<MessagingOptions>? configure = null) =>
        TestHost.Build(connectionString, prefix, b => b.AddMessaging(configure));

    [Fact]
    public async Task PublishAsync_TwoSubscriptionsOnChannel_EachReceivesTypedMessage()
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        var bus = provider.GetRequiredService<IMessageBus>();
        var first = new TaskCompletionSource<PubSubMessage<Order>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new TaskCompletionSource<Order?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var a = await bus.SubscribeAsync<Order>("orders", (m, _) => { first.TrySetResult(m); return Task.CompletedTask; });
        await using var b = await bus.SubscribeAsync<Order>("orders", (m, _) => { second.TrySetResult(m); return Task.CompletedTask; });

        var receivers = await bus.PublishAsync("orders", new Order(7, "book"));

        Assert.Equal(1, receivers); // one connection subscribed, two local handlers
        var received = await first.Task.WaitAsync(Within);
        Assert.Equal("orders", received.Channel);
        Assert.Equal(new Order(7, "book"), received.Message);
        Assert.Equal(new Order(7, "book"), await second.Task.WaitAsync(Within));
    }

    [Fact]
    public async Task SubscribeAsync_OneHandlerThrows_OtherHandlerAndLaterMessagesUnaffected()
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        using var metrics = new MetricTotals(provider);
        var bus = provider.GetRequiredService<IMessageBus>();
        var good = new ConcurrentQueue<int>();
        var failing = new ConcurrentQueue<int>();
        await using var bad = await bus.SubscribeAsync<Order>("orders", (m, _) =>
        {
            failing.Enqueue(m!.Id);
            throw new InvalidOperationException("handler bug");
        });
        await using var ok = await bus.SubscribeAsync<Order>("orders", (m, _) => { good.Enqueue(m!.Id); return Task.CompletedTask; });

        for (var i = 0; i < 5; i++)
        {
            await bus.PublishAsync("orders", new Order(i, "x"));
        }

        await MessagingHost.WaitUntilAsync(() => good.Count == 5 && failing.Count == 5, Within, "both handlers saw 5 messages");
        Assert.Equal([0, 1, 2, 3, 4], good);
        await MessagingHost.WaitUntilAsync(() => metrics[MessagingInstruments.PubSubHandlerErrors] == 5, Within, "5 handler errors counted");
    }

    [Fact]
    public async Task SubscribeAsync_OrderedSubscription_HandlesInPublishOrderOneAtATime()
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        var bus = provider.GetRequiredService<IMessageBus>();
        var seen = new ConcurrentQueue<int>();
        var running = 0;
        var maxRunning = 0;
        await using var sub = await bus.SubscribeAsync<Order>("seq", async (m, _) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxRunning, now);
            await Task.Yield();
            seen.Enqueue(m!.Id);
            Interlocked.Decrement(ref running);
        });

        for (var i = 0; i < 200; i++)
        {
            _ = bus.PublishAsync("seq", new Order(i, "x")); // pipelined, in order on one connection
        }

        await MessagingHost.WaitUntilAsync(() => seen.Count == 200, Within, "200 messages handled");
        Assert.Equal(Enumerable.Range(0, 200), seen);
        Assert.Equal(1, maxRunning);
    }

    [Fact]
    public async Task SubscribeAsync_ConcurrentSubscription_RunsHandlersInParallel()
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        var bus = provider.GetRequiredService<IMessageBus>();
        var running = 0;
        var maxRunning = 0;
        var done = 0;
        await using var sub = await bus.SubscribeAsync<Order>("par", async (m, _) =>
        {
            InterlockedMax(ref maxRunning, Interlocked.Increment(ref running));
            await Task.Delay(50);
            Interlocked.Decrement(ref running);
            Interlocked.Increment(ref done);
        }, new SubscriptionOptions { MaxConcurrency = 4 });

        for (var i = 0; i < 8; i++)
        {
            await bus.PublishAsync("par", new Order(i, "x"));
        }

        await MessagingHost.WaitUntilAsync(() => Volatile.Read(ref done) == 8, Within, "8 messages handled");
        Assert.True(maxRunning > 1, $"at most {maxRunning} handler ran at once");
        Assert.True(maxRunning <= 4, $"{maxRunning} handlers ran at once, limit 4");
    }

    [Theory]
    [InlineData(PubSubOverflowPolicy.DropIncoming, new[] { 0, 1, 2, 3 })]
    [InlineData(PubSubOverflowPolicy.DropOldest, new[] { 0, 7, 8, 9 })]
    [InlineData(PubSubOverflowPolicy.DropNewest, new[] { 0, 1, 2, 9 })]
    public async Task SubscribeAsync_SlowHandlerFullQueue_DropsPerPolicyAndCounts(PubSubOverflowPolicy policy, int[] expectedHandled)
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        using var metrics = new MetricTotals(provider);
        var bus = provider.GetRequiredService<IMessageBus>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = new ConcurrentQueue<int>();
        await using var sub = await bus.SubscribeAsync<Order>("slow", async (m, _) =>
        {
            started.TrySetResult();
            await gate.Task;
            handled.Enqueue(m!.Id);
        }, new SubscriptionOptions { QueueCapacity = 3, OverflowPolicy = policy });

        // Message 0 occupies the handler; 1..9 arrive while it is blocked: 3 fit, 6 are dropped.
        await bus.PublishAsync("slow", new Order(0, "x"));
        await started.Task.WaitAsync(Within);
        for (var i = 1; i < 10; i++)
        {
            await bus.PublishAsync("slow", new Order(i, "x"));
        }

        await MessagingHost.WaitUntilAsync(() => sub.Dropped == 6, Within, "6 messages dropped");
        Assert.Equal(3, sub.Queued);
        gate.SetResult();
        await MessagingHost.WaitUntilAsync(() => handled.Count == 4, Within, "4 messages handled");
        Assert.Equal(expectedHandled, handled);
        Assert.Equal(6, metrics[MessagingInstruments.PubSubDropped]);
    }

    [Fact]
    public async Task SubscribeAsync_RedisServerRestarted_ResubscribesAndReceives()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        var bus = provider.GetRequiredService<IMessageBus>();
        var received = new ConcurrentQueue<int>();
        await using var sub = await bus.SubscribeAsync<Order>("restart", (m, _) => { received.Enqueue(m!.Id); return Task.CompletedTask; });
        await bus.PublishAsync("restart", new Order(1, "before"));
        await MessagingHost.WaitUntilAsync(() => received.Contains(1), Within, "message before restart");

        await server.RestartAsync();

        // The multiplexer reconnects and re-issues SUBSCRIBE; publish until a message gets through.
        await MessagingHost.WaitUntilAsync(async () =>
        {
            try
            {
                await bus.PublishAsync("restart", new Order(2, "after"));
            }
            catch (RedisException)
            {
            }

            await Task.Delay(50);
            return received.Contains(2);
        }, TimeSpan.FromSeconds(20), "message after restart");
    }

    [Fact]
    public async Task PublishAsync_PlainClientOnSameChannel_InteroperatesBothWays()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var provider = Build(server.ConnectionString, prefix);
        var bus = provider.GetRequiredService<IMessageBus>();
        var raw = (await Servers.RedisClient()).GetSubscriber();
        var wireName = $"{prefix}:chan:orders";

        // A plain client (as ioredis would) publishes raw JSON; the typed subscriber reads it.
        var typed = new TaskCompletionSource<Order?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var sub = await bus.SubscribeAsync<Order>("orders", (m, _) => { typed.TrySetResult(m); return Task.CompletedTask; });
        await raw.PublishAsync(RedisChannel.Literal(wireName), """{"id":42,"sku":"from-node"}""");
        Assert.Equal(new Order(42, "from-node"), await typed.Task.WaitAsync(Within));

        // The typed publisher writes plain JSON a plain subscriber can read.
        var plain = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var queue = await raw.SubscribeAsync(RedisChannel.Literal(wireName));
        queue.OnMessage(m => plain.TrySetResult(m.Message!));
        try
        {
            await bus.PublishAsync("orders", new Order(43, "to-node"));
            Assert.Equal("""{"id":43,"sku":"to-node"}""", await plain.Task.WaitAsync(Within));
        }
        finally
        {
            await queue.UnsubscribeAsync();
        }
    }

    [Fact]
    public async Task SubscribePatternAsync_GlobPattern_ReceivesMatchingChannelsWithTheirNames()
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        var bus = provider.GetRequiredService<IMessageBus>();
        var seen = new ConcurrentQueue<string>();
        await using var sub = await bus.SubscribePatternAsync<Order>("orders.*", (m, _) => { seen.Enqueue($"{m.Channel}={m.Message!.Id}"); return Task.CompletedTask; });

        await bus.PublishAsync("payments.created", new Order(1, "x"));
        await bus.PublishAsync("orders.created", new Order(2, "x"));
        await bus.PublishAsync("orders:shipped", new Order(3, "x")); // ':' is encoded, so it does not match "orders.*"
        await bus.PublishAsync("orders.shipped", new Order(4, "x"));

        await MessagingHost.WaitUntilAsync(() => seen.Count == 2, Within, "two matching messages");
        await Task.Delay(100);
        Assert.Equal(["orders.created=2", "orders.shipped=4"], seen);
        Assert.EndsWith(":chan:orders.*", sub.RedisChannel, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubscribePatternAsync_OtherPrefix_NeverReceivesItsChannels()
    {
        var server = await Servers.Redis();
        await using var mine = Build(server.ConnectionString, Servers.NewPrefix());
        await using var theirs = Build(server.ConnectionString, Servers.NewPrefix());
        var seen = new ConcurrentQueue<int>();
        await using var sub = await mine.GetRequiredService<IMessageBus>().SubscribePatternAsync<Order>("*", (m, _) => { seen.Enqueue(m.Message!.Id); return Task.CompletedTask; });

        await theirs.GetRequiredService<IMessageBus>().PublishAsync("orders", new Order(1, "x"));
        await mine.GetRequiredService<IMessageBus>().PublishAsync("orders", new Order(2, "x"));

        await MessagingHost.WaitUntilAsync(() => seen.Contains(2), Within, "own message");
        await Task.Delay(100);
        Assert.Equal([2], seen);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task DisposeAsync_Subscription_StopsDelivery(int concurrency)
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix());
        var bus = provider.GetRequiredService<IMessageBus>();
        var seen = new ConcurrentQueue<int>();
        var sub = await bus.SubscribeAsync<Order>("bye", (m, _) => { seen.Enqueue(m!.Id); return Task.CompletedTask; }, new SubscriptionOptions { MaxConcurrency = concurrency });
        await bus.PublishAsync("bye", new Order(1, "x"));
        await MessagingHost.WaitUntilAsync(() => seen.Count == 1, Within, "first message");

        await sub.DisposeAsync();
        var receivers = await bus.PublishAsync("bye", new Order(2, "x"));

        Assert.Equal(0, receivers);
        await Task.Delay(100);
        Assert.Equal([1], seen);
    }

    [Fact]
    public async Task SubscribeAsync_CorruptPayload_SkippedAndCounted()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var provider = Build(server.ConnectionString, prefix);
        using var metrics = new MetricTotals(provider);
        var bus = provider.GetRequiredService<IMessageBus>();
        var seen = new ConcurrentQueue<int>();
        await using var sub = await bus.SubscribeAsync<Order>("c", (m, _) => { seen.Enqueue(m!.Id); return Task.CompletedTask; });

        await (await Servers.RedisClient()).GetSubscriber().PublishAsync(RedisChannel.Literal($"{prefix}:chan:c"), Encoding.UTF8.GetBytes("{not json"));
        await bus.PublishAsync("c", new Order(5, "x"));

        await MessagingHost.WaitUntilAsync(() => seen.Count == 1, Within, "valid message");
        Assert.Equal([5], seen);
        Assert.Equal(1, metrics[MessagingInstruments.PubSubInvalid]);
    }

    [Fact]
    public async Task PublishAsync_ShardedOnCluster_ReachesSubscribersOfEveryShard()
    {
        var cluster = await Servers.Cluster();
        var prefix = Servers.NewPrefix();
        await using var provider = Build(cluster.ConnectionString, prefix, o => o.Sharded = true);
        var bus = provider.GetRequiredService<IMessageBus>();
        var seen = new ConcurrentDictionary<string, int>();
        var channels = Enumerable.Range(0, 12).Select(i => $"room-{i}").ToArray(); // spread over the 3 shards
        var subs = new List<IMessageSubscription>();
        foreach (var channel in channels)
        {
            subs.Add(await bus.SubscribeAsync<Order>(channel, (m, _) => { seen[m.Channel] = m.Message!.Id; return Task.CompletedTask; }));
        }

        try
        {
            foreach (var (channel, i) in channels.Select((c, i) => (c, i)))
            {
                Assert.Equal(1, await bus.PublishAsync(channel, new Order(i, "x")));
            }

            await MessagingHost.WaitUntilAsync(() => seen.Count == channels.Length, Within, "every sharded channel delivered");

            // A plain SPUBLISH reaches the subscription, so it is an SSUBSCRIBE (SUBSCRIBE never sees SPUBLISH).
            await (await Servers.ClusterClient()).GetSubscriber().PublishAsync(RedisChannel.Sharded($"{prefix}:chan:room-0"), """{"id":99,"sku":"raw"}""");
            await MessagingHost.WaitUntilAsync(() => seen["room-0"] == 99, Within, "raw SPUBLISH delivered");
            var client = await Servers.ClusterClient();
            var slots = channels.Select(c => client.HashSlot($"{prefix}:chan:{c}") / 5462).Distinct().Count();
            Assert.True(slots > 1, "the channels should live on more than one shard");
        }
        finally
        {
            foreach (var sub in subs)
            {
                await sub.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task SubscribePatternAsync_ShardedMode_ThrowsNotSupported()
    {
        var cluster = await Servers.Cluster();
        await using var provider = Build(cluster.ConnectionString, Servers.NewPrefix(), o => o.Sharded = true);

        await Assert.ThrowsAsync<NotSupportedException>(() => provider.GetRequiredService<IMessageBus>().SubscribePatternAsync<Order>("*", (_, _) => Task.CompletedTask));
    }

    [Fact]
    public async Task AddMessaging_InvalidQueueCapacity_FailsValidationNamingSetting()
    {
        var server = await Servers.Redis();
        await using var provider = Build(server.ConnectionString, Servers.NewPrefix(), o => o.QueueCapacity = 0);

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<MessagingOptions>>().Value);

        Assert.Contains("QueueCapacity", ex.Message, StringComparison.Ordinal);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

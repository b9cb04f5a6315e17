using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Messaging;

public class StreamProducerTests
{
    [Fact]
    public async Task AddAsync_SameIdempotencyKeyTwice_AddsOnceAndReturnsFirstId()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var provider = TestHost.Build(server.ConnectionString, prefix, b => b.AddMessaging());
        var producer = provider.GetRequiredService<IStreamProducer>();

        var first = await producer.AddAsync("payments", new Order(1, "a"), idempotencyKey: "pay-1");
        var second = await producer.AddAsync("payments", new Order(1, "a"), idempotencyKey: "pay-1");
        var other = await producer.AddAsync("payments", new Order(2, "b"), idempotencyKey: "pay-2");

        Assert.False(first.Duplicate);
        Assert.True(second.Duplicate);
        Assert.Equal(first.Id, second.Id);
        Assert.False(other.Duplicate);
        var db = (await Servers.RedisClient()).GetDatabase();
        Assert.Equal(2, await db.StreamLengthAsync($"{prefix}:stream:{{payments}}"));
        var ttl = await db.KeyTimeToLiveAsync($"{prefix}:stream:{{payments}}:idem:pay-1");
        Assert.InRange(ttl!.Value, TimeSpan.FromHours(23), TimeSpan.FromHours(24));
    }

    [Fact]
    public async Task AddAsync_ConcurrentSameIdempotencyKey_ExactlyOneAdded()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var provider = TestHost.Build(server.ConnectionString, prefix, b => b.AddMessaging());
        var producer = provider.GetRequiredService<IStreamProducer>();

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => producer.AddAsync("p", new Order(1, "a"), idempotencyKey: "k")));

        Assert.Single(results, r => !r.Duplicate);
        Assert.Single(results.Select(r => r.Id).Distinct());
        Assert.Equal(1, await (await Servers.RedisClient()).GetDatabase().StreamLengthAsync($"{prefix}:stream:{{p}}"));
    }

    [Fact]
    public async Task AddAsync_MaxLength_TrimsApproximately()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var provider = TestHost.Build(server.ConnectionString, prefix, b => b.AddMessaging());
        var producer = provider.GetRequiredService<IStreamProducer>();

        for (var i = 0; i < 1000; i++)
        {
            await producer.AddAsync("trim", new Order(i, "x"), maxLength: 100);
        }

        var length = await (await Servers.RedisClient()).GetDatabase().StreamLengthAsync($"{prefix}:stream:{{trim}}");
        Assert.InRange(length, 100, 300); // MAXLEN ~ keeps at least 100 and trims whole nodes (100 entries each by default)
    }

    [Fact]
    public async Task AddAsync_Message_StoredAsPlainJsonInDataField()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var provider = TestHost.Build(server.ConnectionString, prefix, b => b.AddMessaging());

        var added = await provider.GetRequiredService<IStreamProducer>().AddAsync("plain", new Order(3, "json"));

        var entries = await (await Servers.RedisClient()).GetDatabase().StreamRangeAsync($"{prefix}:stream:{{plain}}");
        var entry = Assert.Single(entries);
        Assert.Equal(added.Id, entry.Id.ToString());
        Assert.Equal("""{"id":3,"sku":"json"}""", entry["data"].ToString());
    }

    [Fact]
    public async Task AddAsync_OnCluster_IdempotencyScriptRunsInStreamSlot()
    {
        var cluster = await Servers.Cluster();
        await using var provider = TestHost.Build(cluster.ConnectionString, Servers.NewPrefix(), b => b.AddMessaging());
        var producer = provider.GetRequiredService<IStreamProducer>();

        for (var i = 0; i < 10; i++)
        {
            var first = await producer.AddAsync($"s{i}", new Order(i, "x"), maxLength: 10, idempotencyKey: "same");
            var again = await producer.AddAsync($"s{i}", new Order(i, "x"), maxLength: 10, idempotencyKey: "same");
            Assert.False(first.Duplicate);
            Assert.True(again.Duplicate);
        }
    }
}

public class StreamConsumerTests
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    private static RedisKey StreamKey(string prefix, string stream) => $"{prefix}:stream:{{{stream}}}";

    private static async Task AddRawAsync(IDatabase db, RedisKey key, int from, int count)
    {
        var batch = db.CreateBatch();
        var adds = new List<Task>(count);
        for (var i = from; i < from + count; i++)
        {
            adds.Add(batch.StreamAddAsync(key, "data", $$"""{"id":{{i}},"sku":"s{{i}}"}"""));
        }

        batch.Execute();
        await Task.WhenAll(adds);
    }

    [Fact]
    public async Task Consumer_PlainJsonEntriesFromOtherClient_HandledTypedAndAcknowledged()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var probe = new StreamProbe();
        var db = (await Servers.RedisClient()).GetDatabase();
        await AddRawAsync(db, StreamKey(prefix, "orders"), 0, 5);
        using var host = MessagingHost.Build(server.ConnectionString, prefix, probe, "orders", "billing", "c1");

        await host.StartAsync();
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count == 5, Within, "5 entries handled");
        await MessagingHost.WaitUntilAsync(async () => (await db.StreamPendingAsync(StreamKey(prefix, "orders"), "billing")).PendingMessageCount == 0, Within, "all acknowledged");
        await host.StopAsync();

        Assert.Equal(Enumerable.Range(0, 5), probe.HandledOrders.Keys.Order());
    }

    [Fact]
    public async Task Consumer_ThreeConsumersInOneGroup10000Messages_EachHandledExactlyOnce()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var probe = new StreamProbe();
        var hosts = Enumerable.Range(1, 3)
            .Select(i => MessagingHost.Build(server.ConnectionString, prefix, probe, "jobs", "workers", $"w{i}", o => o.BatchSize = 50))
            .ToArray();
        try
        {
            foreach (var host in hosts)
            {
                await host.StartAsync();
            }

            var producer = hosts[0].Services.GetRequiredService<IStreamProducer>();
            for (var start = 0; start < 10_000; start += 500)
            {
                await Task.WhenAll(Enumerable.Range(start, 500).Select(i => producer.AddAsync("jobs", new Order(i, "x"))));
            }

            await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count == 10_000, TimeSpan.FromSeconds(60), "10,000 orders handled");
            var db = (await Servers.RedisClient()).GetDatabase();
            await MessagingHost.WaitUntilAsync(async () => (await db.StreamPendingAsync(StreamKey(prefix, "jobs"), "workers")).PendingMessageCount == 0, Within, "all acknowledged");
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.StopAsync();
                host.Dispose();
            }
        }

        Assert.Equal(10_000, probe.HandledOrders.Count);
        Assert.All(probe.HandledOrders.Values, n => Assert.Equal(1, n));
        Assert.Equal(10_000, probe.Attempts);
        var perConsumer = probe.Log.GroupBy(e => e.Consumer).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(3, perConsumer.Count); // the group spread the work over all three
        Assert.Equal(10_000, perConsumer.Values.Sum());
    }

    [Fact]
    public async Task Consumer_PoisonMessage_DeadLetteredWithErrorAfterMaxDeliveries()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var probe = new StreamProbe();
        var poisonAttempts = 0;
        probe.Behavior = (m, _, _) =>
        {
            if (m.Message.Sku == "poison")
            {
                Interlocked.Increment(ref poisonAttempts);
                throw new InvalidOperationException("cannot handle poison");
            }

            return Task.CompletedTask;
        };
        using var host = MessagingHost.Build(server.ConnectionString, prefix, probe, "pay", "g", "c1", o => o.MaxDeliveries = 3);
        using var metrics = new MetricTotals(host.Services);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IStreamProducer>();

        await producer.AddAsync("pay", new Order(1, "ok"));
        var poison = await producer.AddAsync("pay", new Order(2, "poison"));
        await producer.AddAsync("pay", new Order(3, "ok"));

        var db = (await Servers.RedisClient()).GetDatabase();
        var deadKey = $"{prefix}:stream:{{pay}}:dead";
        await MessagingHost.WaitUntilAsync(async () => await db.StreamLengthAsync(deadKey) == 1, Within, "poison dead-lettered");
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count == 2, Within, "good entries handled");
        await host.StopAsync();

        Assert.Equal(3, poisonAttempts);
        var dead = Assert.Single(await db.StreamRangeAsync(deadKey));
        Assert.Equal("""{"id":2,"sku":"poison"}""", dead["data"].ToString());
        Assert.Equal(poison.Id, dead["dead.id"].ToString());
        Assert.Equal("3", dead["dead.deliveries"].ToString());
        Assert.Contains("cannot handle poison", dead["dead.error"].ToString(), StringComparison.Ordinal);
        Assert.Equal(0, (await db.StreamPendingAsync(StreamKey(prefix, "pay"), "g")).PendingMessageCount);
        Assert.Equal(1, metrics[MessagingInstruments.StreamDeadLettered]);
        Assert.Equal(3, metrics[MessagingInstruments.StreamFailed]);
        Assert.Equal(2, metrics[MessagingInstruments.StreamRetried]);
        Assert.Equal(2, metrics[MessagingInstruments.StreamProcessed]);
    }

    [Fact]
    public async Task Consumer_HostStoppedAfterHandlingBeforeAck_AnotherConsumerClaimsAndHandles()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var probe = new StreamProbe();
        var reachedA = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        probe.Behavior = async (m, consumer, ct) =>
        {
            if (consumer == "a")
            {
                // Consumer a has done its work but stops before it can acknowledge.
                reachedA.TrySetResult();
                await Task.Delay(Timeout.Infinite, ct);
            }
        };
        var db = (await Servers.RedisClient()).GetDatabase();
        using (var hostA = MessagingHost.Build(server.ConnectionString, prefix, probe, "tasks", "g", "a", shutdownTimeout: TimeSpan.FromMilliseconds(300)))
        {
            await hostA.StartAsync();
            await hostA.Services.GetRequiredService<IStreamProducer>().AddAsync("tasks", new Order(1, "x"));
            await reachedA.Task.WaitAsync(Within);
            await hostA.StopAsync();
        }

        var pending = await db.StreamPendingMessagesAsync(StreamKey(prefix, "tasks"), "g", 10, RedisValue.Null);
        Assert.Equal("a", Assert.Single(pending).ConsumerName.ToString());

        using var hostB = MessagingHost.Build(server.ConnectionString, prefix, probe, "tasks", "g", "b", o =>
        {
            o.ClaimIdleTime = TimeSpan.FromMilliseconds(300);
            o.ClaimInterval = TimeSpan.FromMilliseconds(100);
        });
        await hostB.StartAsync();
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.ContainsKey(1), Within, "consumer b handled the entry");
        await MessagingHost.WaitUntilAsync(async () => (await db.StreamPendingAsync(StreamKey(prefix, "tasks"), "g")).PendingMessageCount == 0, Within, "entry acknowledged");
        await hostB.StopAsync();

        Assert.Equal([("b", probe.Log.Single().Id)], probe.Log);
    }

    [Fact]
    public async Task Consumer_StartsWithOwnPendingEntries_ReplaysThemFirst()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var key = StreamKey(prefix, "replay");
        var db = (await Servers.RedisClient()).GetDatabase();
        await db.StreamCreateConsumerGroupAsync(key, "g", StreamPosition.Beginning, createStream: true);
        await AddRawAsync(db, key, 0, 3);
        var delivered = await db.StreamReadGroupAsync(key, "g", "same-name", StreamPosition.NewMessages, 10); // then "crashed"
        Assert.Equal(3, delivered.Length);
        var probe = new StreamProbe();

        // ClaimIdleTime is long, so only replay (XREADGROUP 0) can hand these entries back.
        using var host = MessagingHost.Build(server.ConnectionString, prefix, probe, "replay", "g", "same-name", o => o.ClaimIdleTime = TimeSpan.FromMinutes(10));
        await host.StartAsync();
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count == 3, Within, "pending entries replayed");
        await MessagingHost.WaitUntilAsync(async () => (await db.StreamPendingAsync(key, "g")).PendingMessageCount == 0, Within, "replayed entries acknowledged");
        await host.StopAsync();
    }

    [Fact]
    public async Task Consumer_RedisRestartedMidStream_RecoversAndHandlesEveryEntry()
    {
        await using var server = await RedisServerProcess.StartAsync(["--appendonly", "yes", "--appendfsync", "always"]);
        var prefix = Servers.NewPrefix();
        var probe = new StreamProbe { Behavior = (_, _, _) => Task.Delay(2) };
        using var host = MessagingHost.Build(server.ConnectionString, prefix, probe, "restart", "g", "c1", o => o.BatchSize = 20);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IStreamProducer>();
        for (var i = 0; i < 300; i++)
        {
            await producer.AddAsync("restart", new Order(i, "x"));
        }

        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count >= 30, Within, "consumer is mid-stream");
        await server.RestartAsync();
        var handledAtRestart = probe.HandledOrders.Count;

        for (var i = 300; i < 400; i++)
        {
            await TestHost.EventuallyAsync(() => producer.AddAsync("restart", new Order(i, "x")), Within);
        }

        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count == 400, TimeSpan.FromSeconds(60), "all 400 entries handled");
        using var client = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        await MessagingHost.WaitUntilAsync(async () => (await client.GetDatabase().StreamPendingAsync(StreamKey(prefix, "restart"), "g")).PendingMessageCount == 0, Within, "all acknowledged");
        await host.StopAsync();
        Assert.Equal(Enumerable.Range(0, 400), probe.HandledOrders.Keys.Order());
        Assert.True(handledAtRestart < 300, $"the restart came after the first 300 entries were all handled ({handledAtRestart})");
    }

    [Fact]
    public async Task Consumer_StreamDeletedWhileRunning_RecreatesGroupAndContinues()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var probe = new StreamProbe();
        using var host = MessagingHost.Build(server.ConnectionString, prefix, probe, "gone", "g", "c1");
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IStreamProducer>();
        await producer.AddAsync("gone", new Order(1, "x"));
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count == 1, Within, "first entry");

        await (await Servers.RedisClient()).GetDatabase().KeyDeleteAsync(StreamKey(prefix, "gone")); // as a restart without persistence would
        await Task.Delay(100);
        await TestHost.EventuallyAsync(async () =>
        {
            await producer.AddAsync("gone", new Order(2, "x"));
            await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.ContainsKey(2), TimeSpan.FromSeconds(2), "entry after deletion");
            return true;
        }, Within);
        await host.StopAsync();
    }

    [Fact]
    public async Task Consumer_StopWhileHandlingBatch_DrainsInFlightWorkBeforeStopping()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var probe = new StreamProbe { Behavior = (_, _, _) => Task.Delay(20) };
        using var host = MessagingHost.Build(server.ConnectionString, prefix, probe, "drain", "g", "c1", o => o.BatchSize = 50);
        var db = (await Servers.RedisClient()).GetDatabase();
        await AddRawAsync(db, StreamKey(prefix, "drain"), 0, 50);
        await host.StartAsync();
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count >= 1, Within, "batch started");

        await host.StopAsync();

        // The whole batch of 50 in hand was finished and acknowledged; nothing was left half done.
        Assert.Equal(50, probe.HandledOrders.Count);
        Assert.Equal(0, (await db.StreamPendingAsync(StreamKey(prefix, "drain"), "g")).PendingMessageCount);
    }

    [Fact]
    public async Task Consumer_ConcurrencyFour_HandlesEntriesInParallel()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var running = 0;
        var maxRunning = 0;
        var probe = new StreamProbe();
        probe.Behavior = async (_, _, _) =>
        {
            var now = Interlocked.Increment(ref running);
            int seen;
            while ((seen = Volatile.Read(ref maxRunning)) < now && Interlocked.CompareExchange(ref maxRunning, now, seen) != seen)
            {
            }

            await Task.Delay(30);
            Interlocked.Decrement(ref running);
        };
        await AddRawAsync((await Servers.RedisClient()).GetDatabase(), StreamKey(prefix, "par"), 0, 16);
        using var host = MessagingHost.Build(server.ConnectionString, prefix, probe, "par", "g", "c1", o => o.Concurrency = 4);
        await host.StartAsync();
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count == 16, Within, "16 handled");
        await host.StopAsync();

        Assert.InRange(maxRunning, 2, 4);
    }

    [Fact]
    public async Task Consumer_OnCluster_HandlesAndDeadLettersInStreamSlot()
    {
        var cluster = await Servers.Cluster();
        var prefix = Servers.NewPrefix();
        var probe = new StreamProbe
        {
            Behavior = (m, _, _) => m.Message.Sku == "poison" ? throw new InvalidOperationException("bad") : Task.CompletedTask,
        };
        using var host = MessagingHost.Build(cluster.ConnectionString, prefix, probe, "cl", "g", "c1", o => o.MaxDeliveries = 2);
        await host.StartAsync();
        var producer = host.Services.GetRequiredService<IStreamProducer>();
        for (var i = 0; i < 20; i++)
        {
            await producer.AddAsync("cl", new Order(i, i == 7 ? "poison" : "ok"));
        }

        var db = (await Servers.ClusterClient()).GetDatabase();
        await MessagingHost.WaitUntilAsync(async () => await db.StreamLengthAsync($"{prefix}:stream:{{cl}}:dead") == 1, Within, "poison dead-lettered");
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count == 19, Within, "19 handled");
        await host.StopAsync();
    }

    [Fact]
    public async Task Consumer_BacklogThenDrained_PendingAndLagGaugesFollow()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var probe = new StreamProbe { Behavior = (_, _, _) => gate.Task };
        var db = (await Servers.RedisClient()).GetDatabase();
        await db.StreamCreateConsumerGroupAsync(StreamKey(prefix, "gauges"), "g", StreamPosition.Beginning, createStream: true);
        await AddRawAsync(db, StreamKey(prefix, "gauges"), 0, 30);
        using var host = MessagingHost.Build(server.ConnectionString, prefix, probe, "gauges", "g", "c1", o => o.BatchSize = 10);
        using var metrics = new MetricTotals(host.Services);

        // The first refresh runs before the first read: 30 entries not yet delivered, none pending.
        await host.StartAsync();
        await MessagingHost.WaitUntilAsync(() => metrics.Observe(MessagingInstruments.StreamLag) == 30, Within, "lag of 30 observed");
        Assert.Equal(0, metrics.Observe(MessagingInstruments.StreamPending));

        gate.SetResult();
        await MessagingHost.WaitUntilAsync(() => probe.HandledOrders.Count == 30, Within, "backlog handled");
        await MessagingHost.WaitUntilAsync(() => metrics.Observe(MessagingInstruments.StreamLag) == 0 && metrics.Observe(MessagingInstruments.StreamPending) == 0, Within, "gauges back to zero");
        await host.StopAsync();
    }

    [Fact]
    public async Task HostStart_GarnetWithoutStreams_FailsWithCapabilityException()
    {
        var garnet = Servers.Garnet();
        using var host = MessagingHost.Build(garnet.ConnectionString, Servers.NewPrefix(), new StreamProbe(), "s", "g", "c1");

        var ex = await Assert.ThrowsAsync<RedisKitCapabilityException>(() => host.StartAsync());

        Assert.Equal("stream consumer", ex.Capability);
        Assert.True(ex.Missing.HasFlag(RedisFeatures.Streams));
    }

    [Fact]
    public async Task HostStart_ClaimIdleTimeNotAboveRetryMaxDelay_FailsValidation()
    {
        var server = await Servers.Redis();
        using var host = MessagingHost.Build(server.ConnectionString, Servers.NewPrefix(), new StreamProbe(), "s", "g", "c1", o =>
        {
            o.RetryMaxDelay = TimeSpan.FromSeconds(5);
            o.ClaimIdleTime = TimeSpan.FromSeconds(5);
        });

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("ClaimIdleTime", ex.Message, StringComparison.Ordinal);
    }
}

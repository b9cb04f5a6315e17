using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace RedisKit.Benchmarks.Messaging;

public sealed record BenchOrder(int Id, string Sku);

/// <summary>Counts handled entries and completes when the target of the current invocation is reached.</summary>
public sealed class BenchCounter
{
    private long _count;
    private long _target = long.MaxValue;
    private TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long Count => Interlocked.Read(ref _count);

    public Task Arm(long target)
    {
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _count, 0);
        Volatile.Write(ref _target, target);
        return _done.Task;
    }

    public void Hit()
    {
        if (Interlocked.Increment(ref _count) == Volatile.Read(ref _target))
        {
            _done.TrySetResult();
        }
    }
}

public sealed class BenchHandler(BenchCounter counter) : IStreamHandler<BenchOrder>
{
    public Task HandleAsync(StreamMessage<BenchOrder> message, CancellationToken cancellationToken)
    {
        counter.Hit();
        return Task.CompletedTask;
    }
}

/// <summary>
/// Produce → consume → acknowledge throughput on one redis-server: each invocation adds 20,000 entries
/// (pipelined in chunks of 1,000, <c>MAXLEN ~ 100000</c>) and returns when every one has been handled and
/// acknowledged. Mean is per message. Baseline: a hand-written StackExchange.Redis XADD / XREADGROUP
/// COUNT 100 / XACK loop with the same batching. Loss would show as a timeout (the invocation fails).
/// </summary>
[MemoryDiagnoser]
public class StreamThroughputBenchmarks
{
    private const int Messages = 20_000;
    private const int Chunk = 1_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly List<ServiceProvider> _providers = [];
    private readonly List<IHostedService> _consumers = [];
    private ConnectionMultiplexer _raw = null!;
    private BenchCounter _oneCounter = null!;
    private BenchCounter _threeCounter = null!;
    private IStreamProducer _oneProducer = null!;
    private IStreamProducer _threeProducer = null!;
    private int _rawRun;

    [GlobalSetup]
    public void Setup()
    {
        var connection = BenchmarkServer.ConnectionString();
        _raw = ConnectionMultiplexer.Connect(connection);
        var prefix = "bench" + Guid.NewGuid().ToString("N")[..8];
        _oneCounter = new BenchCounter();
        _threeCounter = new BenchCounter();
        _oneProducer = StartConsumer(connection, prefix, "one", "c1", _oneCounter).GetRequiredService<IStreamProducer>();
        _threeProducer = StartConsumer(connection, prefix, "three", "c1", _threeCounter).GetRequiredService<IStreamProducer>();
        StartConsumer(connection, prefix, "three", "c2", _threeCounter);
        StartConsumer(connection, prefix, "three", "c3", _threeCounter);
    }

    private ServiceProvider StartConsumer(string connection, string prefix, string stream, string consumer, BenchCounter counter)
    {
        var services = new ServiceCollection();
        AddNullLogging(services);
        services.AddSingleton(counter);
        services.AddRedisKit(o =>
        {
            o.ConnectionString = connection;
            o.KeyPrefix = prefix;
        }).AddStreamConsumer<BenchOrder, BenchHandler>(stream, "g", o =>
        {
            o.ConsumerName = consumer;
            o.BatchSize = 100;
            o.MinPollDelay = TimeSpan.FromMilliseconds(1);
            o.MaxPollDelay = TimeSpan.FromMilliseconds(20);
        });
        var provider = services.BuildServiceProvider();
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            hosted.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
            _consumers.Add(hosted);
        }

        _providers.Add(provider);
        return provider;
    }

    internal static void AddNullLogging(IServiceCollection services)
    {
        services.AddSingleton<Microsoft.Extensions.Logging.ILoggerFactory>(Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        services.AddSingleton(typeof(Microsoft.Extensions.Logging.ILogger<>), typeof(Microsoft.Extensions.Logging.Abstractions.NullLogger<>));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var consumer in _consumers)
        {
            consumer.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        }

        foreach (var provider in _providers)
        {
            provider.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        _raw.Dispose();
        BenchmarkServer.Stop();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Messages)]
    public async Task RawStackExchange_OneConsumer()
    {
        var db = _raw.GetDatabase();
        RedisKey key = "bench:raw:" + Interlocked.Increment(ref _rawRun);
        await db.StreamCreateConsumerGroupAsync(key, "g", StreamPosition.Beginning, createStream: true);
        var consumer = Task.Run(async () =>
        {
            var handled = 0;
            var idle = 0;
            while (handled < Messages)
            {
                var entries = await db.StreamReadGroupAsync(key, "g", "c1", StreamPosition.NewMessages, 100);
                if (entries.Length == 0)
                {
                    await Task.Delay(Math.Min(20, 1 << Math.Min(idle++, 5)));
                    continue;
                }

                idle = 0;
                var ids = new RedisValue[entries.Length];
                for (var i = 0; i < entries.Length; i++)
                {
                    _ = System.Text.Json.JsonSerializer.Deserialize<BenchOrder>((byte[])entries[i]["data"]!, System.Text.Json.JsonSerializerOptions.Web);
                    ids[i] = entries[i].Id;
                }

                await db.StreamAcknowledgeAsync(key, "g", ids);
                handled += entries.Length;
            }
        });
        for (var start = 0; start < Messages; start += Chunk)
        {
            var adds = new Task[Chunk];
            for (var i = 0; i < Chunk; i++)
            {
                adds[i] = db.StreamAddAsync(key, "data", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new BenchOrder(start + i, "sku"), System.Text.Json.JsonSerializerOptions.Web), maxLength: 100_000, useApproximateMaxLength: true);
            }

            await Task.WhenAll(adds);
        }

        await consumer.WaitAsync(Timeout);
        await db.KeyDeleteAsync(key);
    }

    [Benchmark(OperationsPerInvoke = Messages)]
    public Task RedisKit_OneConsumer() => ProduceAndWaitAsync(_oneProducer, "one", _oneCounter);

    [Benchmark(OperationsPerInvoke = Messages)]
    public Task RedisKit_ThreeConsumers() => ProduceAndWaitAsync(_threeProducer, "three", _threeCounter);

    private static async Task ProduceAndWaitAsync(IStreamProducer producer, string stream, BenchCounter counter)
    {
        var done = counter.Arm(Messages);
        for (var start = 0; start < Messages; start += Chunk)
        {
            var adds = new Task[Chunk];
            for (var i = 0; i < Chunk; i++)
            {
                adds[i] = producer.AddAsync(stream, new BenchOrder(start + i, "sku"), maxLength: 100_000);
            }

            await Task.WhenAll(adds);
        }

        await done.WaitAsync(Timeout);
        if (counter.Count != Messages)
        {
            throw new InvalidOperationException($"Handled {counter.Count} of {Messages}.");
        }
    }
}

/// <summary>
/// Pub/sub fan-out: each invocation publishes 20,000 messages (pipelined in chunks of 1,000) to one channel
/// with 3 subscribers, each on its own connection, and returns when all three have handled all 20,000
/// (60,000 deliveries). Mean is per published message. Baseline: StackExchange.Redis callback subscribers
/// on raw JSON strings. RedisKit subscriptions are ordered (MaxConcurrency 1) with a 20,000-message queue.
/// </summary>
[MemoryDiagnoser]
public class PubSubFanOutBenchmarks
{
    private const int Messages = 20_000;
    private const int Chunk = 1_000;
    private const int Subscribers = 3;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly List<ConnectionMultiplexer> _rawSubscribers = [];
    private readonly List<ServiceProvider> _providers = [];
    private readonly List<IMessageSubscription> _subscriptions = [];
    private ConnectionMultiplexer _rawPublisher = null!;
    private IMessageBus _publisher = null!;
    private BenchCounter _rawCounter = null!;
    private BenchCounter _kitCounter = null!;
    private BenchCounter _kitConcurrentCounter = null!;

    [GlobalSetup]
    public void Setup()
    {
        var connection = BenchmarkServer.ConnectionString();
        _rawCounter = new BenchCounter();
        _kitCounter = new BenchCounter();
        _kitConcurrentCounter = new BenchCounter();
        _rawPublisher = ConnectionMultiplexer.Connect(connection);
        for (var i = 0; i < Subscribers; i++)
        {
            var multiplexer = ConnectionMultiplexer.Connect(connection);
            multiplexer.GetSubscriber().Subscribe(RedisChannel.Literal("bench:raw:fanout"), (channel, value) =>
            {
                _ = System.Text.Json.JsonSerializer.Deserialize<BenchOrder>((byte[])value!, System.Text.Json.JsonSerializerOptions.Web);
                _rawCounter.Hit();
            });
            _rawSubscribers.Add(multiplexer);
        }

        var prefix = "bench" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 0; i <= Subscribers; i++)
        {
            var services = new ServiceCollection();
            StreamThroughputBenchmarks.AddNullLogging(services);
            services.AddRedisKit(o =>
            {
                o.ConnectionString = connection;
                o.KeyPrefix = prefix;
            }).AddMessaging(o => o.QueueCapacity = Messages);
            var provider = services.BuildServiceProvider();
            _providers.Add(provider);
            var bus = provider.GetRequiredService<IMessageBus>();
            if (i == Subscribers)
            {
                _publisher = bus;
            }
            else
            {
                _subscriptions.Add(bus.SubscribeAsync<BenchOrder>("fanout", (_, _) =>
                {
                    _kitCounter.Hit();
                    return Task.CompletedTask;
                }).GetAwaiter().GetResult());
                _subscriptions.Add(bus.SubscribeAsync<BenchOrder>("fanout-concurrent", (_, _) =>
                {
                    _kitConcurrentCounter.Hit();
                    return Task.CompletedTask;
                }, new SubscriptionOptions { MaxConcurrency = 2 }).GetAwaiter().GetResult());
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        var dropped = _subscriptions.Sum(s => s.Dropped);
        Console.WriteLine($"// RedisKit subscriptions dropped {dropped} messages in total.");
        foreach (var subscription in _subscriptions)
        {
            subscription.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        foreach (var provider in _providers)
        {
            provider.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        foreach (var multiplexer in _rawSubscribers)
        {
            multiplexer.Dispose();
        }

        _rawPublisher.Dispose();
        BenchmarkServer.Stop();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Messages)]
    public async Task RawStackExchange_FanOutToThree()
    {
        var done = _rawCounter.Arm(Messages * Subscribers);
        var subscriber = _rawPublisher.GetSubscriber();
        var channel = RedisChannel.Literal("bench:raw:fanout");
        for (var start = 0; start < Messages; start += Chunk)
        {
            var publishes = new Task[Chunk];
            for (var i = 0; i < Chunk; i++)
            {
                publishes[i] = subscriber.PublishAsync(channel, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new BenchOrder(start + i, "sku"), System.Text.Json.JsonSerializerOptions.Web));
            }

            await Task.WhenAll(publishes);
        }

        await done.WaitAsync(Timeout);
    }

    [Benchmark(OperationsPerInvoke = Messages)]
    public Task RedisKit_FanOutToThree() => PublishAndWaitAsync("fanout", _kitCounter);

    [Benchmark(OperationsPerInvoke = Messages)]
    public Task RedisKit_FanOutToThree_Concurrent2() => PublishAndWaitAsync("fanout-concurrent", _kitConcurrentCounter);

    private async Task PublishAndWaitAsync(string channel, BenchCounter counter)
    {
        var done = counter.Arm(Messages * Subscribers);
        for (var start = 0; start < Messages; start += Chunk)
        {
            var publishes = new Task[Chunk];
            for (var i = 0; i < Chunk; i++)
            {
                publishes[i] = _publisher.PublishAsync(channel, new BenchOrder(start + i, "sku"));
            }

            await Task.WhenAll(publishes);
        }

        await done.WaitAsync(Timeout);
    }
}

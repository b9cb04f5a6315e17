using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RedisKit.Tests.Messaging;

public sealed record Order(int Id, string Sku);

/// <summary>What the stream handlers of one test saw; shared by every host of the test.</summary>
public sealed class StreamProbe
{
    public ConcurrentDictionary<string, int> Handled { get; } = new();

    public ConcurrentDictionary<int, int> HandledOrders { get; } = new();

    public ConcurrentQueue<(string Consumer, string Id)> Log { get; } = new();

    /// <summary>Runs before the handler records success; throw to fail the delivery.</summary>
    public Func<StreamMessage<Order>, string, CancellationToken, Task>? Behavior { get; set; }

    public int Attempts;
}

public sealed class ProbeHandler(StreamProbe probe, ConsumerIdentity identity) : IStreamHandler<Order>
{
    public async Task HandleAsync(StreamMessage<Order> message, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref probe.Attempts);
        if (probe.Behavior is { } behavior)
        {
            await behavior(message, identity.Name, cancellationToken);
        }

        probe.Handled.AddOrUpdate(message.Id, 1, static (_, n) => n + 1);
        probe.HandledOrders.AddOrUpdate(message.Message.Id, 1, static (_, n) => n + 1);
        probe.Log.Enqueue((identity.Name, message.Id));
    }
}

public sealed record ConsumerIdentity(string Name);

public static class MessagingHost
{
    /// <summary>A real generic host (hosted services run) with RedisKit, messaging and one probe consumer.</summary>
    public static IHost Build(
        string connectionString,
        string prefix,
        StreamProbe probe,
        string stream,
        string group,
        string consumer,
        Action<StreamConsumerOptions>? configure = null,
        TimeSpan? shutdownTimeout = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout ?? TimeSpan.FromSeconds(10));
        builder.Services.AddSingleton(probe);
        builder.Services.AddSingleton(new ConsumerIdentity(consumer));
        builder.Services.AddRedisKit(o =>
        {
            o.ConnectionString = connectionString;
            o.KeyPrefix = prefix;
            o.ConnectTimeout = TimeSpan.FromSeconds(2);
            o.CommandTimeout = TimeSpan.FromSeconds(2);
            o.ReconnectBaseDelay = TimeSpan.FromMilliseconds(50);
            o.ReconnectMaxDelay = TimeSpan.FromMilliseconds(500);
        }).AddStreamConsumer<Order, ProbeHandler>(stream, group, o =>
        {
            o.ConsumerName = consumer;
            o.MinPollDelay = TimeSpan.FromMilliseconds(2);
            o.MaxPollDelay = TimeSpan.FromMilliseconds(50);
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
            o.RetryMaxDelay = TimeSpan.FromMilliseconds(50);
            o.ClaimIdleTime = TimeSpan.FromSeconds(30);
            o.ClaimInterval = TimeSpan.FromMilliseconds(200);
            configure?.Invoke(o);
        });
        return builder.Build();
    }

    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan within, string what)
    {
        var deadline = DateTime.UtcNow + within;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(20);
        }
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan within, string what)
    {
        var deadline = DateTime.UtcNow + within;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(20);
        }
    }
}

/// <summary>Sums the long measurements of the RedisKit instruments created by one service provider's meter factory.</summary>
public sealed class MetricTotals : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();
    private readonly ConcurrentDictionary<string, long> _latest = new();

    public MetricTotals(IServiceProvider services)
    {
        var factory = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == RedisKitDiagnostics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            _totals.AddOrUpdate(instrument.Name, value, (_, n) => n + value);
            _latest[instrument.Name] = value;
        });
        _listener.Start();
    }

    public long this[string name] => _totals.GetValueOrDefault(name);

    /// <summary>Reads the observable gauges now and returns the last value of <paramref name="name"/>, if any.</summary>
    public long? Observe(string name)
    {
        _latest.TryRemove(name, out _);
        _listener.RecordObservableInstruments();
        return _latest.TryGetValue(name, out var value) ? value : null;
    }

    public void Dispose() => _listener.Dispose();
}

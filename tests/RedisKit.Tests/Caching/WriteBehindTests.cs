using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace RedisKit.Tests.Caching;

public sealed record View(int ProductId, int Sequence);

public sealed class RecordingSink : IWriteBehindSink<View>
{
    public ConcurrentBag<View> Received { get; } = [];

    public ConcurrentBag<int> BatchSizes { get; } = [];

    public Func<IReadOnlyList<View>, CancellationToken, Task>? Behaviour { get; set; }

    public async Task WriteBatchAsync(IReadOnlyList<View> items, CancellationToken cancellationToken)
    {
        if (Behaviour is not null)
        {
            await Behaviour(items, cancellationToken);
        }

        BatchSizes.Add(items.Count);
        foreach (var item in items)
        {
            Received.Add(item);
        }
    }
}

public class WriteBehindTests
{
    private static async Task<(ServiceProvider Provider, RecordingSink Sink)> StartAsync(string connection, string prefix, Action<WriteBehindOptions> configure, Func<IReadOnlyList<View>, CancellationToken, Task>? behaviour = null)
    {
        var sink = new RecordingSink { Behaviour = behaviour };
        var provider = TestHost.Build(connection, prefix, b =>
        {
            b.Services.AddSingleton<IWriteBehindSink<View>>(sink);
            b.AddWriteBehind<View, RecordingSink>("views", configure);
        });
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None);
        }

        return (provider, sink);
    }

    [Fact]
    public async Task Enqueue_ManyItems_AreDeliveredInBatchesExactlyOnceWithoutFaults()
    {
        var server = await Servers.Redis();
        var (provider, sink) = await StartAsync(server.ConnectionString, Servers.NewPrefix(), o =>
        {
            o.BatchSize = 50;
            o.PollInterval = TimeSpan.FromMilliseconds(20);
        });
        await using var _ = provider;
        var queue = provider.GetRequiredService<IWriteBehindQueue<View>>();

        for (var i = 0; i < 250; i++)
        {
            await queue.EnqueueAsync(new View(i % 7, i));
        }

        await TestHost.EventuallyAsync(() => Task.FromResult(sink.Received.Count == 250 ? true : throw new InvalidOperationException()), TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range(0, 250), sink.Received.Select(v => v.Sequence).Order());
        Assert.All(sink.BatchSizes, size => Assert.InRange(size, 1, 50));
        Assert.Equal(0, await queue.GetLengthAsync());
    }

    [Fact]
    public async Task WorkerDiesMidBatch_AnotherWorkerDeliversEverything()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var lease = TimeSpan.FromMilliseconds(600);
        var firstBatchTaken = new TaskCompletionSource();

        // Worker A takes a batch and never finishes it: its sink hangs until the worker is torn down
        // without acknowledging, which leaves Redis exactly as a killed process would.
        var (a, sinkA) = await StartAsync(server.ConnectionString, prefix, o =>
        {
            o.BatchSize = 40;
            o.LeaseDuration = lease;
            o.PollInterval = TimeSpan.FromMilliseconds(20);
        }, async (_, ct) =>
        {
            firstBatchTaken.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        var queue = a.GetRequiredService<IWriteBehindQueue<View>>();
        for (var i = 0; i < 100; i++)
        {
            await queue.EnqueueAsync(new View(1, i));
        }

        await firstBatchTaken.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await a.DisposeAsync();
        Assert.Empty(sinkA.Received);

        var (b, sinkB) = await StartAsync(server.ConnectionString, prefix, o =>
        {
            o.BatchSize = 40;
            o.LeaseDuration = lease;
            o.PollInterval = TimeSpan.FromMilliseconds(20);
        });
        await using var _ = b;

        await TestHost.EventuallyAsync(() => Task.FromResult(sinkB.Received.Select(v => v.Sequence).Distinct().Count() == 100 ? true : throw new InvalidOperationException()), TimeSpan.FromSeconds(15));
        Assert.Equal(Enumerable.Range(0, 100), sinkB.Received.Select(v => v.Sequence).Distinct().Order());
    }

    [Fact]
    public async Task PoisonBatch_MovesToDeadLetterAfterMaxAttempts()
    {
        var server = await Servers.Redis();
        var attempts = 0;
        var (provider, sink) = await StartAsync(server.ConnectionString, Servers.NewPrefix(), o =>
        {
            o.BatchSize = 10;
            o.MaxAttempts = 3;
            o.RetryDelay = TimeSpan.FromMilliseconds(10);
            o.PollInterval = TimeSpan.FromMilliseconds(20);
        }, (_, _) =>
        {
            Interlocked.Increment(ref attempts);
            throw new InvalidOperationException("database rejects it");
        });
        await using var _ = provider;
        var queue = provider.GetRequiredService<IWriteBehindQueue<View>>();
        for (var i = 0; i < 5; i++)
        {
            await queue.EnqueueAsync(new View(2, i));
        }

        await TestHost.EventuallyAsync(async () => await queue.GetDeadLetterLengthAsync() == 5 ? true : throw new InvalidOperationException(), TimeSpan.FromSeconds(10));
        Assert.Equal(0, await queue.GetLengthAsync());
        Assert.True(attempts >= 3);
    }
}

using Microsoft.Extensions.DependencyInjection;
using RedisKit.Testing;

namespace RedisKit.Tests.Locking;

/// <summary>
/// How a release wakes the waiters of an exclusive lock: in one process one at a time, in queue order, and a waiter that
/// stops waiting never swallows a wake; in another process by the release message, which is sent only when a waiter
/// failed an attempt. The retry pauses are set to 20–30 s, so within these tests
/// every attempt after the first comes from a release notification, and the server's command counts show it.
/// </summary>
public class WaiterWakeTests
{
    private static void SlowPolling(LockingOptions o)
    {
        o.MinRetryDelay = TimeSpan.FromSeconds(20);
        o.MaxRetryDelay = TimeSpan.FromSeconds(30);
    }

    [Fact]
    public async Task Release_WakesOneWaiterAtATime_EachReleaseCostsOneAttempt()
    {
        const int Waiters = 6;
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = LockReleaseTests.Build(server.ConnectionString, Servers.NewPrefix(), SlowPolling);
        var locks = (RedisLockProvider)provider.GetRequiredService<IRedisLockProvider>();
        var redisLock = locks.CreateLock("herd");
        var holder = await redisLock.AcquireAsync();

        var order = new List<int>();
        var waiters = Enumerable.Range(0, Waiters).Select(i => Task.Run(async () =>
        {
            await using var handle = await redisLock.AcquireAsync(TimeSpan.FromSeconds(15));
            lock (order)
            {
                order.Add(i);
            }

            await Task.Delay(20);
        })).ToArray();

        // All queued (and asleep: the polling pause is 20 s or more).
        await UntilQueuedAsync(() => locks.QueuedWaiters("herd") == Waiters);
        // A waiter queues before its attempt: wait until the server has seen no new attempt for 300 ms.
        var seen = -1L;
        while (true)
        {
            var sets = LockReleaseTests.ParseCommandStats(await server.CliAsync("INFO", "commandstats")).GetValueOrDefault("set");
            if (sets == seen)
            {
                break;
            }

            seen = sets;
            await Task.Delay(300);
        }

        await server.CliAsync("CONFIG", "RESETSTAT");

        await holder.DisposeAsync();
        await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(10)); // far below the 20 s polling pause
        await locks.FlushReleasesAsync();
        var stats = LockReleaseTests.ParseCommandStats(await server.CliAsync("INFO", "commandstats"));

        // Each of the Waiters + 1 releases woke exactly one waiter (the last woke nobody), and each woken waiter
        // took the lock at its one attempt: EVALSHA = releases + acquisitions. Waking every waiter would have sent
        // one attempt per waiter still queued per release (Waiters * (Waiters + 1) / 2 of them here).
        Assert.Equal(Waiters, order.Count);
        Assert.Equal(2 * (Waiters + 1), stats.GetValueOrDefault("del")); // the releases: owner key and waiting mark
        Assert.Equal(Waiters, stats.GetValueOrDefault("incr")); // the acquisitions
        Assert.Equal((2 * Waiters) + 1, stats.GetValueOrDefault("evalsha"));

        // Only the holder's release published: the first waiter's failed attempt had set the waiting mark. Every later
        // release found no mark (the woken waiters took the lock at once) and woke this process's next waiter itself.
        Assert.Equal(1, stats.GetValueOrDefault("publish"));
    }

    [Fact]
    public async Task WaiterOfAnotherProcess_HolderReleases_IsWokenByTheMessage()
    {
        // The holder's process has no waiter of its own, so only the release message can wake the other process's
        // waiters before their 20 s polling pause.
        await using var server = await RedisServerProcess.StartAsync();
        var (holderProcess, waiterProcess) = TwoProcesses(server);
        await using var _ = holderProcess;
        await using var __ = waiterProcess;
        var holder = await holderProcess.CreateLock("across").AcquireAsync();

        var waiters = Enumerable.Range(0, 3).Select(_ => Task.Run(() => HoldBrieflyAsync(waiterProcess, "across"))).ToArray();
        await UntilQueuedAsync(() => waiterProcess.QueuedWaiters("across") == 3);
        await holder.DisposeAsync();
        var tokens = await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(10)); // far below the 20 s polling pause

        Assert.Equal(Enumerable.Range(1, 3).Select(i => holder.FencingToken + i), tokens.Order());
    }

    [Fact]
    public async Task HolderAndWaiterInOneProcess_AnotherProcessWaitsToo_BothAreWoken()
    {
        // The holder's process wakes its own waiter when its release is answered; the waiter of the other process failed
        // an attempt, so the same release also publishes. Whichever wins, the other is woken again by the next release.
        await using var server = await RedisServerProcess.StartAsync();
        var (first, second) = TwoProcesses(server);
        await using var _ = first;
        await using var __ = second;
        var holder = await first.CreateLock("both").AcquireAsync();

        var local = Task.Run(() => HoldBrieflyAsync(first, "both"));
        var remote = Task.Run(() => HoldBrieflyAsync(second, "both"));
        await UntilQueuedAsync(() => first.QueuedWaiters("both") == 1 && second.QueuedWaiters("both") == 1);
        await holder.DisposeAsync();
        var tokens = await Task.WhenAll(local, remote).WaitAsync(TimeSpan.FromSeconds(10)); // far below the 20 s polling pause

        Assert.Equal([holder.FencingToken + 1, holder.FencingToken + 2], tokens.Order());
    }

    [Fact]
    public async Task WaitersThatStopWaiting_LeaveTheQueue_TheNextReleaseWakesOneStillWaiting()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = LockReleaseTests.Build(server.ConnectionString, Servers.NewPrefix(), SlowPolling);
        var redisLock = provider.GetRequiredService<IRedisLockProvider>().CreateLock("leavers");
        var holder = await redisLock.AcquireAsync();

        // Two waiters queue first and give up (one cancelled, one timed out); the third still waits.
        using var cancel = new CancellationTokenSource();
        var cancelled = redisLock.AcquireAsync(TimeSpan.FromSeconds(15), cancel.Token).AsTask();
        var timedOut = redisLock.TryAcquireAsync(TimeSpan.FromMilliseconds(600)).AsTask();
        await Task.Delay(200);
        var patient = redisLock.AcquireAsync(TimeSpan.FromSeconds(15)).AsTask();
        await Task.Delay(200);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Null(await timedOut);

        await holder.DisposeAsync();
        await using var handle = await patient.WaitAsync(TimeSpan.FromSeconds(10)); // far below the 20 s polling pause
        Assert.Equal(holder.FencingToken + 1, handle.FencingToken);
    }

    [Fact]
    public async Task ManyWaiters_HalfCancelledAtStaggeredTimes_NoWakeIsLostOnTheOthers()
    {
        // Cancellations land while a waiter is queued, attempting or asleep, while releases hand the lock down the queue.
        // A waiter leaving must neither break the queue nor take a wake with it: that would leave the rest asleep until
        // their 20 s polling pause, past this test's 12 s bound. (A wake that lands between a waiter's wake-up and its
        // cancellation check, which LockPrimitive passes on, is too narrow a window to hit on purpose here.)
        const int Waiters = 24;
        await using var server = await RedisServerProcess.StartAsync();
        await using var provider = LockReleaseTests.Build(server.ConnectionString, Servers.NewPrefix(), SlowPolling);
        var redisLock = provider.GetRequiredService<IRedisLockProvider>().CreateLock("churn");
        var holder = await redisLock.AcquireAsync();
        var cancelAfter = Enumerable.Range(0, Waiters).Select(i => TimeSpan.FromMilliseconds(40 + (i * 13 % 300))).ToArray();

        var waiters = Enumerable.Range(0, Waiters).Select(i => Task.Run(async () =>
        {
            using var cancel = new CancellationTokenSource();
            if (i % 2 == 1)
            {
                cancel.CancelAfter(cancelAfter[i]);
            }

            try
            {
                await using var handle = await redisLock.AcquireAsync(TimeSpan.FromSeconds(15), cancel.Token);
                await Task.Delay(10, CancellationToken.None);
                return true;
            }
            catch (OperationCanceledException) when (i % 2 == 1)
            {
                return false;
            }
        })).ToArray();
        await Task.Delay(60);
        await holder.DisposeAsync();
        var acquired = await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(12)); // far below the 20 s polling pause

        Assert.All(acquired.Where((_, i) => i % 2 == 0), Assert.True);
    }

    /// <summary>
    /// Two lock providers on two connections to one server, with one key prefix: two processes as far as waking goes
    /// (each has its own subscription and waiter queues). Disposing the provider disposes its container.
    /// </summary>
    private static (ProcessLocks First, ProcessLocks Second) TwoProcesses(RedisServerProcess server)
    {
        var prefix = Servers.NewPrefix();
        return (new ProcessLocks(LockReleaseTests.Build(server.ConnectionString, prefix, SlowPolling)),
            new ProcessLocks(LockReleaseTests.Build(server.ConnectionString, prefix, SlowPolling)));
    }

    private static async Task<long> HoldBrieflyAsync(ProcessLocks locks, string name)
    {
        await using var handle = await locks.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(15));
        await Task.Delay(20);
        return handle.FencingToken;
    }

    /// <summary>Until the waiters are queued, then 300 ms more: a waiter queues before its attempt, which is then on its way.</summary>
    private static async Task UntilQueuedAsync(Func<bool> queued)
    {
        await TestHost.EventuallyAsync(() => queued()
            ? Task.FromResult(true)
            : throw new InvalidOperationException("waiters still starting"), TimeSpan.FromSeconds(10));
        await Task.Delay(300);
    }

    private sealed class ProcessLocks(ServiceProvider services) : IAsyncDisposable
    {
        private readonly RedisLockProvider _locks = (RedisLockProvider)services.GetRequiredService<IRedisLockProvider>();

        public IRedisLock CreateLock(string name) => _locks.CreateLock(name);

        public int QueuedWaiters(string name) => _locks.QueuedWaiters(name);

        public ValueTask DisposeAsync() => services.DisposeAsync();
    }
}

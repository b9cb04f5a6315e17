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
        await TestHost.EventuallyAsync(() => locks.QueuedWaiters("herd") == Waiters
            ? Task.FromResult(true)
            : throw new InvalidOperationException("waiters still starting"), TimeSpan.FromSeconds(10));
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
        // Two providers on two connections, one server: two processes as far as waking goes. The holder's process has
        // no waiter of its own, so only the release message can wake the other one before its 20 s polling pause.
        await using var server = await RedisServerProcess.StartAsync();
        var prefix = Servers.NewPrefix();
        await using var holderProcess = LockReleaseTests.Build(server.ConnectionString, prefix, SlowPolling);
        await using var waiterProcess = LockReleaseTests.Build(server.ConnectionString, prefix, SlowPolling);
        var waiterLocks = (RedisLockProvider)waiterProcess.GetRequiredService<IRedisLockProvider>();
        var holder = await holderProcess.GetRequiredService<IRedisLockProvider>().CreateLock("across").AcquireAsync();

        var waiters = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            await using var handle = await waiterLocks.CreateLock("across").AcquireAsync(TimeSpan.FromSeconds(15));
            await Task.Delay(20);
            return handle.FencingToken;
        })).ToArray();
        await TestHost.EventuallyAsync(() => waiterLocks.QueuedWaiters("across") == 3
            ? Task.FromResult(true)
            : throw new InvalidOperationException("waiters still starting"), TimeSpan.FromSeconds(10));
        await Task.Delay(300); // the first waiter's attempt (which sets the waiting mark) is on its way

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
        var prefix = Servers.NewPrefix();
        await using var first = LockReleaseTests.Build(server.ConnectionString, prefix, SlowPolling);
        await using var second = LockReleaseTests.Build(server.ConnectionString, prefix, SlowPolling);
        var firstLocks = (RedisLockProvider)first.GetRequiredService<IRedisLockProvider>();
        var secondLocks = (RedisLockProvider)second.GetRequiredService<IRedisLockProvider>();
        var holder = await firstLocks.CreateLock("both").AcquireAsync();

        async Task<long> WaitAndHold(IRedisLockProvider locks)
        {
            await using var handle = await locks.CreateLock("both").AcquireAsync(TimeSpan.FromSeconds(15));
            await Task.Delay(50);
            return handle.FencingToken;
        }

        var local = Task.Run(() => WaitAndHold(firstLocks));
        var remote = Task.Run(() => WaitAndHold(secondLocks));
        await TestHost.EventuallyAsync(() => firstLocks.QueuedWaiters("both") == 1 && secondLocks.QueuedWaiters("both") == 1
            ? Task.FromResult(true)
            : throw new InvalidOperationException("waiters still starting"), TimeSpan.FromSeconds(10));
        await Task.Delay(300);

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
}

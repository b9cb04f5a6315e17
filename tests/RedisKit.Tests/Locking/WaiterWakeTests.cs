using Microsoft.Extensions.DependencyInjection;
using RedisKit.Testing;

namespace RedisKit.Tests.Locking;

/// <summary>
/// How a release wakes the waiters of an exclusive lock in one process: one at a time, in queue order, and a
/// waiter that stops waiting never swallows a wake. The retry pauses are set to 20–30 s, so within these tests
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
        Assert.Equal(Waiters + 1, stats.GetValueOrDefault("del")); // the releases
        Assert.Equal(Waiters, stats.GetValueOrDefault("incr")); // the acquisitions
        Assert.Equal((2 * Waiters) + 1, stats.GetValueOrDefault("evalsha"));
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

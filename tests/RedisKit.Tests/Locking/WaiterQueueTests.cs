using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace RedisKit.Tests.Locking;

/// <summary>
/// Unit tests of the engine's waiter queue for exclusive locks (no server: the rounds are driven by hand and time is a
/// <see cref="FakeTimeProvider"/>). They pin down who a release wakes and how a round ends; <c>WaiterWakeTests</c> proves
/// the same behaviour end to end against a real redis-server.
/// </summary>
public sealed class WaiterQueueTests : IDisposable
{
    private static readonly TimeSpan Forever = Timeout.InfiniteTimeSpan;
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeTimeProvider _time = new();
    private readonly LockEngine _engine;
    private readonly Primitive _lock;

    public WaiterQueueTests()
    {
        _engine = new LockEngine(
            new LockingOptions(),
            _time,
            new LockingMetrics(_services.GetRequiredService<IMeterFactory>()),
            NullLogger.Instance,
            channel: null,
            subscriberSource: null);
        _lock = new Primitive(_engine);
    }

    public void Dispose()
    {
        _engine.Dispose();
        _services.Dispose();
    }

    [Fact]
    public void Release_WakesOnlyTheFirstQueuedWaiter_ThenTheNext()
    {
        var (first, firstSleep) = Sleep(Forever);
        var (second, secondSleep) = Sleep(Forever);
        var (third, thirdSleep) = Sleep(Forever);

        _engine.WakeOne(_lock.SignalKey);

        Assert.True(firstSleep.IsCompleted);
        Assert.False(secondSleep.IsCompleted);
        Assert.False(thirdSleep.IsCompleted);
        Assert.True(End(first, firstSleep));
        Assert.Equal(2, _engine.QueuedWaiters(_lock.SignalKey));

        _engine.WakeOne(_lock.SignalKey);

        Assert.True(secondSleep.IsCompleted);
        Assert.False(thirdSleep.IsCompleted);
        Assert.True(End(second, secondSleep));
        Assert.Equal(1, _engine.QueuedWaiters(_lock.SignalKey));

        _engine.WakeOne(_lock.SignalKey);

        Assert.True(End(third, thirdSleep));
        Assert.Equal(0, _engine.QueuedWaiters(_lock.SignalKey));
    }

    [Fact]
    public void WakeDuringTheAttempt_TheSleepReturnsAtOnce_AndTheRoundCountsAsWoken()
    {
        var round = _engine.BeginRound(_lock, notified: true);

        _engine.WakeOne(_lock.SignalKey); // the release lands while the round's attempt is in flight
        var sleep = _engine.SleepAsync(round, TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.True(sleep.IsCompleted);
        Assert.True(End(round, sleep));
    }

    [Fact]
    public void DelayPasses_TheRoundEndsNotWoken_AndTheNextReleaseWakesTheWaiterBehind()
    {
        var (early, earlySleep) = Sleep(TimeSpan.FromMilliseconds(100));
        var (late, lateSleep) = Sleep(Forever);

        _time.Advance(TimeSpan.FromMilliseconds(100));

        Assert.True(earlySleep.IsCompleted);
        Assert.False(End(early, earlySleep));
        _engine.WakeOne(_lock.SignalKey);
        Assert.True(lateSleep.IsCompleted);
        Assert.True(End(late, lateSleep));
    }

    [Fact]
    public void TokenCancelled_TheRoundEndsNotWoken_AndTheWaiterLeavesTheQueue()
    {
        using var cancel = new CancellationTokenSource();
        var round = _engine.BeginRound(_lock, notified: true);
        var sleep = _engine.SleepAsync(round, Forever, cancel.Token);

        cancel.Cancel();

        Assert.True(sleep.IsCompleted);
        Assert.False(End(round, sleep));
        Assert.Equal(0, _engine.QueuedWaiters(_lock.SignalKey));
    }

    [Fact]
    public void PooledWaiter_ItsEarlierTimerNeverEndsALaterRound()
    {
        // Round 1 is woken before its 100 ms delay; the waiter goes back to the pool and the next round reuses it.
        var (first, firstSleep) = Sleep(TimeSpan.FromMilliseconds(100));
        _engine.WakeOne(_lock.SignalKey);
        Assert.True(End(first, firstSleep));
        var (second, secondSleep) = Sleep(Forever);

        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(secondSleep.IsCompleted);
        _engine.WakeOne(_lock.SignalKey);
        Assert.True(End(second, secondSleep));
    }

    [Fact]
    public void IsFirst_OnlyForTheHeadOfTheQueue()
    {
        var first = _engine.BeginRound(_lock, notified: true);
        var second = _engine.BeginRound(_lock, notified: true);

        Assert.True(LockEngine.IsFirst(first));
        Assert.False(LockEngine.IsFirst(second));
        Assert.False(LockEngine.IsFirst(default));

        _engine.EndRound(first);
        Assert.True(LockEngine.IsFirst(second));
        _engine.EndRound(second);
    }

    [Fact]
    public void WithoutNotifications_ARoundQueuesNothing_AndOnlyItsDelayEndsIt()
    {
        var round = _engine.BeginRound(_lock, notified: false);
        var sleep = _engine.SleepAsync(round, TimeSpan.FromMilliseconds(50), CancellationToken.None);

        _engine.WakeOne(_lock.SignalKey);
        Assert.False(sleep.IsCompleted);
        Assert.Equal(0, _engine.QueuedWaiters(_lock.SignalKey));

        _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.True(sleep.IsCompleted);
        Assert.False(End(round, sleep));
    }

    [Fact]
    public void EngineDisposed_EveryQueuedWaiterIsWoken()
    {
        var (first, firstSleep) = Sleep(Forever);
        var (second, secondSleep) = Sleep(Forever);

        _engine.Dispose();

        Assert.True(firstSleep.IsCompleted);
        Assert.True(secondSleep.IsCompleted);
        Assert.True(End(first, firstSleep));
        Assert.True(End(second, secondSleep));
    }

    private (LockEngine.WaitRound Round, ValueTask Sleep) Sleep(TimeSpan delay)
    {
        var round = _engine.BeginRound(_lock, notified: true);
        return (round, _engine.SleepAsync(round, delay, CancellationToken.None));
    }

    /// <summary>Consumes a completed sleep (as the acquire loop's await does) and ends the round: whether a release woke it.</summary>
    private bool End(LockEngine.WaitRound round, ValueTask sleep)
    {
        if (sleep.IsCompleted)
        {
            sleep.GetAwaiter().GetResult();
        }

        return _engine.EndRound(round);
    }

    /// <summary>An exclusive-lock primitive that is never attempted: only its name and its wake-one behaviour matter here.</summary>
    private sealed class Primitive(LockEngine engine)
        : LockPrimitive(engine, "queue", "lock", engine.Resolve(null))
    {
        public override string SignalKey => "queue";

        public override bool WakesOneWaiter => true;

        public override ValueTask<long> TryOnceAsync(RedisValue[] arguments, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        protected override LockHandle CreateHandle(RedisValue[] arguments, long result, long attemptStart) =>
            throw new NotSupportedException();
    }
}

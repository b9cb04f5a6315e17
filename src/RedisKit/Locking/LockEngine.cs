using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// What every lock of one provider shares: timing defaults, clock, metrics, logging, and the single
/// release-notification subscription that wakes waiters (one per provider, not one per waiter).
/// </summary>
internal sealed partial class LockEngine : IDisposable
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, WaiterQueue> _queues = new(StringComparer.Ordinal);
    private readonly BoundedPool<Waiter> _waiterPool = new(64);
    private readonly Func<CancellationToken, ValueTask<IConnectionMultiplexer>>? _subscriberSource;
    private readonly object _gate = new();
    private readonly object _releaseGate = new();
    private readonly BoundedPool<ReleaseObserver> _observerPool = new(32);
    private int _pendingReleases;
    private TaskCompletionSource? _drained;
    private readonly object _scheduleGate = new();
    private LockHandle? _scheduled;
    private ITimer? _extensionTimer;
    private long _timerDueAt = long.MaxValue;
    private bool _disposed;
    private Task<bool>? _subscription;
    private ISubscriber? _subscriber;

    public LockEngine(LockingOptions options, TimeProvider time, LockingMetrics metrics, ILogger logger, RedisChannel? channel, Func<CancellationToken, ValueTask<IConnectionMultiplexer>>? subscriberSource)
    {
        Options = options;
        Time = time;
        Metrics = metrics;
        Logger = logger;
        Channel = channel;
        ChannelValue = channel is { } c ? (RedisValue)c.ToString() : RedisValue.EmptyString;
        OwnerScript = channel is { } named ? LockScript.Owner(named.ToString()) : RedisLock.OwnerWithoutNotification;
        _subscriberSource = channel is null ? null : subscriberSource;
    }

    public LockingOptions Options { get; }

    public TimeProvider Time { get; }

    public LockingMetrics Metrics { get; }

    public ILogger Logger { get; }

    /// <summary>The release channel, or null when release notifications are off.</summary>
    public RedisChannel? Channel { get; }

    /// <summary>The channel name as a script argument ('' = scripts do not publish).</summary>
    public RedisValue ChannelValue { get; }

    /// <summary>The owner-key acquire/release script of this engine (its release channel is part of the script text).</summary>
    public LockScript OwnerScript { get; }

    public LockTiming Resolve(RedisLockSettings? settings)
    {
        var expiry = settings?.Expiry ?? Options.Expiry;
        if (expiry < TimeSpan.FromMilliseconds(10))
        {
            throw new ArgumentOutOfRangeException(nameof(settings), "A lock's expiry must be at least 10 ms.");
        }

        var interval = Options.ExtensionInterval is { } configured && configured < expiry ? configured : expiry / 3;
        return new LockTiming(expiry, settings?.AutoExtend ?? Options.AutoExtend, interval, settings?.MaxHoldTime ?? Options.MaxHoldTime);
    }

    /// <summary>Whether waiters can count on release notifications (subscribing once, on first use; false when they are off or the subscription failed).</summary>
    public ValueTask<bool> EnsureNotifiedAsync(CancellationToken cancellationToken)
    {
        if (_subscriberSource is null)
        {
            return new ValueTask<bool>(false);
        }

        var subscription = EnsureSubscribedAsync();
        return subscription.IsCompleted || !cancellationToken.CanBeCanceled
            ? new ValueTask<bool>(subscription)
            : new ValueTask<bool>(subscription.WaitAsync(cancellationToken));
    }

    /// <summary>
    /// Registers a waiting round of <paramref name="primitive"/> for the next release's wake, before its attempt. Waiters
    /// of an exclusive lock queue per name and a release wakes only the first of them (in this process): only one of
    /// them could take the lock, and waking all of them would send one failing attempt per waiter per release. Shared
    /// primitives (read side, semaphore) wake every waiter, since one release may admit several. Without notifications
    /// the round just sleeps. End every round with <see cref="EndRound"/>.
    /// </summary>
    public WaitRound BeginRound(LockPrimitive primitive, bool notified)
    {
        if (!notified)
        {
            return default;
        }

        return primitive.WakesOneWaiter
            ? new WaitRound(primitive.SignalKey, Enqueue(primitive.SignalKey), null)
            : new WaitRound(primitive.SignalKey, null, _waiters.GetOrAdd(primitive.SignalKey, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task);
    }

    /// <summary>Sleeps until the round's wake (a release), <paramref name="delay"/> or the token, whichever comes first.</summary>
    public ValueTask SleepAsync(WaitRound round, TimeSpan delay, CancellationToken cancellationToken)
    {
        if (round.Place is { } place)
        {
            // A pooled waiter with its own reusable timer: a round allocates nothing.
            return place.SleepAsync(delay, cancellationToken);
        }

        return round.Signal is { } signal
            ? new ValueTask(SleepOnSignalAsync(signal, delay, cancellationToken))
            : new ValueTask(Task.Delay(delay, Time, cancellationToken));
    }

    private async Task SleepOnSignalAsync(Task signal, TimeSpan delay, CancellationToken cancellationToken) =>
        // Woken by the release message, the delay (a TimeoutException left in the returned task, not thrown) or the token.
        await signal.WaitAsync(delay, Time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    /// <summary>
    /// Ends a waiting round and returns whether a release woke it. A caller that stops without the lock (timed out,
    /// cancelled, failed) before an attempt used that wake passes it on with <see cref="WakeOne"/>, so that a release is
    /// never spent on a waiter that no longer tries.
    /// </summary>
    public bool EndRound(WaitRound round) => round.Place is { } place && Leave(round.Key!, place);

    /// <summary>Whether the round's waiter is the first of its queue (nobody of this process waits ahead of it).</summary>
    public static bool IsFirst(WaitRound round)
    {
        if (round.Place is not { Home: { } queue } place)
        {
            return false;
        }

        lock (queue)
        {
            return queue.First == place;
        }
    }

    /// <summary>One registered waiting round: a place in an exclusive lock's queue, or the shared signal of a name (wake-all), or neither (polling).</summary>
    internal readonly record struct WaitRound(string? Key, Waiter? Place, Task? Signal);

    /// <summary>Whether callers of this process already wait for <paramref name="key"/> (an exclusive lock's queue is not empty).</summary>
    public bool HasQueuedWaiters(string key) => _queues.TryGetValue(key, out var queue) && queue.Count > 0;

    /// <summary>How many callers of this process are queued for <paramref name="key"/> (tests and diagnostics).</summary>
    public int QueuedWaiters(string key)
    {
        if (!_queues.TryGetValue(key, out var queue))
        {
            return 0;
        }

        lock (queue)
        {
            return queue.Count;
        }
    }

    /// <summary>Queues a waiter for the next release of <paramref name="key"/> (exclusive locks; see <see cref="BeginRound"/>).</summary>
    private Waiter Enqueue(string key)
    {
        while (true)
        {
            var queue = _queues.GetOrAdd(key, static _ => new WaiterQueue());
            lock (queue)
            {
                // A queue that emptied was removed from the map; a waiter that still found it takes the new one.
                if (!queue.Retired)
                {
                    var waiter = RentWaiter();
                    waiter.Begin(queue);
                    queue.Append(waiter);
                    return waiter;
                }
            }
        }
    }

    /// <summary>
    /// Ends a waiter's round: takes it out of its queue (unless a release already took it out to wake it) and returns it
    /// to the pool. Returns whether a release woke it.
    /// </summary>
    private bool Leave(string key, Waiter place)
    {
        var queue = place.Home!;
        int ended;
        lock (queue)
        {
            // Under the queue's lock: a release that took this waiter out has finished waking it.
            if (place.Linked)
            {
                queue.Remove(place);
                RetireIfEmpty(key, queue);
            }

            ended = place.End();
        }

        ReturnWaiter(place);
        return ended == Waiter.Woken;
    }

    /// <summary>Wakes the first queued waiter of <paramref name="key"/> that is still waiting (a release of this process, or its message).</summary>
    public void WakeOne(string key)
    {
        if (!_queues.TryGetValue(key, out var queue))
        {
            return;
        }

        lock (queue)
        {
            while (queue.First is { } first)
            {
                queue.Remove(first);
                if (first.TryWake())
                {
                    break;
                }
            }

            RetireIfEmpty(key, queue);
        }
    }

    /// <summary>Removes an empty queue from the map (call under the queue's lock), so idle names keep nothing.</summary>
    private void RetireIfEmpty(string key, WaiterQueue queue)
    {
        if (queue.Count == 0 && !queue.Retired)
        {
            queue.Retired = true;
            _queues.TryRemove(new KeyValuePair<string, WaiterQueue>(key, queue));
        }
    }

    private Waiter RentWaiter() => _waiterPool.TryRent(out var waiter) ? waiter : new Waiter(Time);

    private void ReturnWaiter(Waiter waiter)
    {
        if (!_waiterPool.TryReturn(waiter))
        {
            waiter.Dispose();
        }
    }

    /// <summary>The waiters of one exclusive lock name, first come first woken: an intrusive list (a waiter is its own node), and its own lock object.</summary>
    internal sealed class WaiterQueue
    {
        public Waiter? First;
        private Waiter? _last;

        public int Count;

        /// <summary>Set when the queue emptied and left the map (under its lock); a retired queue takes no new waiters.</summary>
        public bool Retired;

        public void Append(Waiter waiter)
        {
            waiter.Previous = _last;
            waiter.Next = null;
            if (_last is null)
            {
                First = waiter;
            }
            else
            {
                _last.Next = waiter;
            }

            _last = waiter;
            waiter.Linked = true;
            Count++;
        }

        public void Remove(Waiter waiter)
        {
            if (waiter.Previous is null)
            {
                First = waiter.Next;
            }
            else
            {
                waiter.Previous.Next = waiter.Next;
            }

            if (waiter.Next is null)
            {
                _last = waiter.Previous;
            }
            else
            {
                waiter.Next.Previous = waiter.Previous;
            }

            waiter.Next = null;
            waiter.Previous = null;
            waiter.Linked = false;
            Count--;
        }

        /// <summary>Wakes every queued waiter (the engine is disposed); each leaves the queue itself.</summary>
        public void WakeAll()
        {
            for (var waiter = First; waiter is not null; waiter = waiter.Next)
            {
                waiter.TryWake();
            }
        }
    }

    /// <summary>
    /// Puts an auto-extending handle on the extension schedule, due at timestamp <paramref name="dueAt"/>. One timer
    /// serves every held handle of the provider (armed for the earliest due time), so holding a lock costs no timer
    /// of its own: linking a handle is two pointer writes under a lock, and the timer is re-armed only when the new
    /// due time is earlier than the one it is armed for.
    /// </summary>
    public void ScheduleExtension(LockHandle handle, long dueAt)
    {
        lock (_scheduleGate)
        {
            handle.ScheduledDueAt = dueAt;
            if (!IsScheduled(handle))
            {
                handle.PreviousScheduled = null;
                handle.NextScheduled = _scheduled;
                if (_scheduled is not null)
                {
                    _scheduled.PreviousScheduled = handle;
                }

                _scheduled = handle;
            }

            if (dueAt < _timerDueAt)
            {
                ArmExtensionTimer(dueAt);
            }
        }
    }

    /// <summary>Takes a handle off the extension schedule (released, lost, or past its maximum hold time).</summary>
    public void Unschedule(LockHandle handle)
    {
        if (handle.ExtensionIntervalTicks == 0)
        {
            return;
        }

        lock (_scheduleGate)
        {
            if (!IsScheduled(handle))
            {
                return;
            }

            if (handle.PreviousScheduled is { } previous)
            {
                previous.NextScheduled = handle.NextScheduled;
            }
            else
            {
                _scheduled = handle.NextScheduled;
            }

            if (handle.NextScheduled is { } next)
            {
                next.PreviousScheduled = handle.PreviousScheduled;
            }

            handle.NextScheduled = null;
            handle.PreviousScheduled = null;
        }
    }

    /// <summary>A handle is on the schedule when it has a predecessor or is its head (call under the schedule lock).</summary>
    private bool IsScheduled(LockHandle handle) => handle.PreviousScheduled is not null || ReferenceEquals(_scheduled, handle);

    private void ArmExtensionTimer(long dueAt)
    {
        _timerDueAt = dueAt;
        var delay = dueAt == long.MaxValue ? Timeout.InfiniteTimeSpan : Time.GetElapsedTime(Time.GetTimestamp(), dueAt);
        if (delay < TimeSpan.Zero && delay != Timeout.InfiniteTimeSpan)
        {
            delay = TimeSpan.Zero;
        }

        _extensionTimer ??= Time.CreateTimer(static s => ((LockEngine)s!).OnExtensionTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _extensionTimer.Change(delay, Timeout.InfiniteTimeSpan);
    }

    private void OnExtensionTimer()
    {
        List<LockHandle>? due = null;
        lock (_scheduleGate)
        {
            if (_disposed)
            {
                return;
            }

            var now = Time.GetTimestamp();
            var next = long.MaxValue;
            for (var handle = _scheduled; handle is not null; handle = handle.NextScheduled)
            {
                if (handle.ScheduledDueAt <= now)
                {
                    (due ??= []).Add(handle);
                    handle.ScheduledDueAt = now + handle.ExtensionIntervalTicks;
                }

                next = Math.Min(next, handle.ScheduledDueAt);
            }

            // Idle (nothing scheduled): the timer stays unarmed until the next ScheduleExtension.
            _timerDueAt = long.MaxValue;
            if (next != long.MaxValue)
            {
                ArmExtensionTimer(next);
            }
        }

        if (due is not null)
        {
            foreach (var handle in due)
            {
                handle.OnExtensionTimer();
            }
        }
    }

    /// <summary>How many releases have been written and not yet answered (or failed).</summary>
    public int PendingReleases => Volatile.Read(ref _pendingReleases);

    /// <summary>Counts a release as in flight; call before it is written so a concurrent flush sees it.</summary>
    public void ReleaseStarted() => Interlocked.Increment(ref _pendingReleases);

    /// <summary>Counts a release as answered (or failed) and wakes a flush waiting for the last one.</summary>
    public void ReleaseEnded()
    {
        if (Interlocked.Decrement(ref _pendingReleases) != 0)
        {
            return;
        }

        TaskCompletionSource? drained;
        lock (_releaseGate)
        {
            if (Volatile.Read(ref _pendingReleases) != 0)
            {
                return;
            }

            drained = _drained;
            _drained = null;
        }

        drained?.TrySetResult();
    }

    /// <summary>Completes when no release is in flight (each ends with its reply, or with the client's timeout).</summary>
    public Task FlushReleasesAsync(CancellationToken cancellationToken = default)
    {
        Task drained;
        lock (_releaseGate)
        {
            if (Volatile.Read(ref _pendingReleases) == 0)
            {
                return Task.CompletedTask;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _drained.Task;
        }

        return cancellationToken.CanBeCanceled ? drained.WaitAsync(cancellationToken) : drained;
    }

    /// <summary>
    /// Watches the reply of a release that was written and not awaited: <paramref name="handle"/> records
    /// the outcome (metric, log on failure) when it arrives. Observers are pooled, so this allocates nothing
    /// in the steady state.
    /// </summary>
    public void ObserveRelease(LockHandle handle, Task reply)
    {
        (_observerPool.TryRent(out var observer) ? observer : new ReleaseObserver(this)).Observe(handle, reply);
    }

    private void Return(ReleaseObserver observer) => _observerPool.TryReturn(observer);

    /// <summary>A random pause between the configured bounds, no longer than the holder's remaining time (+1 ms) or the time left.</summary>
    public TimeSpan NextDelay(long holderRemainingMs, TimeSpan left)
    {
        var min = Options.MinRetryDelay.TotalMilliseconds;
        var max = Options.MaxRetryDelay.TotalMilliseconds;
        var ms = min + (Random.Shared.NextDouble() * (max - min));
        if (holderRemainingMs >= 0 && holderRemainingMs + 1 < ms)
        {
            ms = holderRemainingMs + 1;
        }

        var delay = TimeSpan.FromMilliseconds(ms);
        return left != Timeout.InfiniteTimeSpan && left < delay ? left : delay;
    }

    /// <summary>
    /// The shared subscription, started by the first waiter. It does not take that waiter's token: a caller that gives up
    /// must not fail the subscription that every other waiter awaits (each awaits it with its own token instead).
    /// </summary>
    private Task<bool> EnsureSubscribedAsync()
    {
        var existing = Volatile.Read(ref _subscription);
        if (existing is not null && !existing.IsFaulted)
        {
            return existing;
        }

        lock (_gate)
        {
            if (_subscription is null || _subscription.IsFaulted)
            {
                _subscription = SubscribeAsync();
            }

            return _subscription;
        }
    }

    private async Task<bool> SubscribeAsync()
    {
        try
        {
            // Bounded by the connection's own connect and command timeouts.
            var multiplexer = await _subscriberSource!(CancellationToken.None).ConfigureAwait(false);
            var subscriber = multiplexer.GetSubscriber();
            await subscriber.SubscribeAsync(Channel!.Value, (_, message) => OnReleased(message)).ConfigureAwait(false);
            _subscriber = subscriber;
            return true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException)
        {
            LogSubscribeFailed(Logger, ex);
            lock (_gate)
            {
                // Forget the failure so the next waiter tries to subscribe again.
                _subscription = null;
            }

            return false;
        }
    }

    private void OnReleased(RedisValue message)
    {
        if (_waiters.IsEmpty && _queues.IsEmpty)
        {
            return;
        }

        var key = (string?)message;
        if (key is null)
        {
            return;
        }

        if (_waiters.TryRemove(key, out var waiter))
        {
            waiter.TrySetResult();
        }

        WakeOne(key);
    }

    public void Dispose()
    {
        lock (_scheduleGate)
        {
            _disposed = true;
            _extensionTimer?.Dispose();
            _extensionTimer = null;
            _timerDueAt = long.MinValue;
        }

        if (_subscriber is { } subscriber && Channel is { } channel)
        {
            try
            {
                subscriber.Unsubscribe(channel, flags: CommandFlags.FireAndForget);
            }
            catch (RedisException)
            {
                // The connection is going away with the application; nothing to clean up on the server.
            }
        }

        foreach (var waiter in _waiters.Values)
        {
            waiter.TrySetResult();
        }

        foreach (var queue in _queues.Values)
        {
            lock (queue)
            {
                queue.WakeAll();
            }
        }
    }
}

/// <summary>
/// A reusable watcher of release replies. Each observer runs one long-lived loop (its state machine is allocated
/// once): it waits for work on a reusable value-task source, then awaits the reply. Awaiting from a state machine
/// lets the runtime queue the continuation itself when the client completes the reply asynchronously, where a
/// plain callback would allocate a work item per release.
/// </summary>
internal sealed partial class LockEngine
{
    private sealed class ReleaseObserver : IValueTaskSource
    {
        private readonly LockEngine _engine;
        private ManualResetValueTaskSourceCore<bool> _work;
        private LockHandle? _handle;
        private Task? _reply;

        public ReleaseObserver(LockEngine engine)
        {
            _engine = engine;
            _ = RunAsync();
        }

        /// <summary>Hands the observer a reply to watch; its loop registers on the reply before this returns.</summary>
        public void Observe(LockHandle handle, Task reply)
        {
            _handle = handle;
            _reply = reply;
            _work.SetResult(true);
        }

        private async Task RunAsync()
        {
            while (true)
            {
                await new ValueTask(this, _work.Version).ConfigureAwait(false);
                _work.Reset();
                var handle = _handle!;
                var reply = _reply!;
                await reply.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                _handle = null;
                _reply = null;
                try
                {
                    handle.OnReleaseReply(reply);
                }
                catch (Exception ex)
                {
                    // Never let the loop die: a broken observer would leave its release counted as pending forever.
                    LogObserverFailed(_engine.Logger, ex);
                }

                _engine.Return(this);
            }
        }

        void IValueTaskSource.GetResult(short token) => _work.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _work.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _work.OnCompleted(continuation, state, token, flags);
    }
}

/// <summary>
/// One waiter of an exclusive lock, reused round after round: its place in the name's queue (it is its own list node)
/// and what its sleep waits on. Pooled by the engine, with one timer of its own that is re-armed, never re-created,
/// so a waiting round allocates nothing. A round is Waiting (queued, attempting), then Sleeping; something claims it
/// with a compare-and-swap on its state before completing it: a release (<c>Waiter.TryWake</c>) from Waiting or
/// Sleeping, the timer and the token only from Sleeping. So the value-task source is completed at most once per round,
/// and only while its waiter is asleep on it (or, for a release, about to be): a timer callback that was already
/// running when its round ended and claims a later round can only end that round's sleep early (one more attempt);
/// it can never complete a round its waiter has left, or a source that was reset under it.
/// </summary>
internal sealed partial class LockEngine
{
    internal sealed class Waiter : IValueTaskSource, IDisposable
    {
        /// <summary>In the queue, attempting (or about to sleep without an attempt); only a release can claim the round.</summary>
        public const int Waiting = 0;

        /// <summary>Asleep on the source: a release, the timer or the token can claim the round.</summary>
        public const int Sleeping = 1;

        /// <summary>A release woke it.</summary>
        public const int Woken = 2;

        /// <summary>Its delay passed or its token was cancelled.</summary>
        public const int Expired = 3;

        /// <summary>The round is over; nothing can claim it.</summary>
        public const int Ended = 4;

        private readonly TimeProvider _time;
        private ManualResetValueTaskSourceCore<bool> _core;
        private int _state = Ended;
        private ITimer? _timer;
        private CancellationTokenRegistration _cancellation;

        public Waiter(TimeProvider time)
        {
            _time = time;
            _core.RunContinuationsAsynchronously = true;
        }

        /// <summary>The queue of the current round (guards <see cref="Next"/>, <see cref="Previous"/> and <see cref="Linked"/>).</summary>
        public WaiterQueue? Home { get; private set; }

        public Waiter? Next { get; set; }

        public Waiter? Previous { get; set; }

        /// <summary>Whether it is in <see cref="Home"/>'s list.</summary>
        public bool Linked { get; set; }

        /// <summary>Starts a round in <paramref name="home"/> (under its lock, before it is appended).</summary>
        public void Begin(WaiterQueue home)
        {
            Home = home;
            _core.Reset();
            Volatile.Write(ref _state, Waiting);
        }

        /// <summary>Wakes the round (attempting or asleep) unless something else ended it first.</summary>
        public bool TryWake()
        {
            while (true)
            {
                var state = Volatile.Read(ref _state);
                if (state is not (Waiting or Sleeping))
                {
                    return false;
                }

                if (Interlocked.CompareExchange(ref _state, Woken, state) == state)
                {
                    _core.SetResult(true);
                    return true;
                }
            }
        }

        /// <summary>Ends the round and returns how it went (<see cref="Woken"/>, <see cref="Expired"/>, or not claimed).</summary>
        public int End() => Interlocked.Exchange(ref _state, Ended);

        /// <summary>Sleeps until a release wakes this waiter, <paramref name="delay"/> passes or the token is cancelled; at once if a release already woke it.</summary>
        public ValueTask SleepAsync(TimeSpan delay, CancellationToken cancellationToken)
        {
            // Asleep first, then armed: a token that is already cancelled claims the round as it registers.
            if (Interlocked.CompareExchange(ref _state, Sleeping, Waiting) != Waiting)
            {
                return default; // woken during the attempt
            }

            if (delay != Timeout.InfiniteTimeSpan)
            {
                if (_timer is null)
                {
                    // The timer lives as long as the pooled waiter: it must not keep the first caller's AsyncLocals alive.
                    var suppress = !ExecutionContext.IsFlowSuppressed();
                    if (suppress)
                    {
                        ExecutionContext.SuppressFlow();
                    }

                    try
                    {
                        _timer = _time.CreateTimer(static s => ((Waiter)s!).Expire(), this, delay, Timeout.InfiniteTimeSpan);
                    }
                    finally
                    {
                        if (suppress)
                        {
                            ExecutionContext.RestoreFlow();
                        }
                    }
                }
                else
                {
                    _timer.Change(delay, Timeout.InfiniteTimeSpan);
                }
            }

            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.UnsafeRegister(static s => ((Waiter)s!).Expire(), this);
            }

            return new ValueTask(this, _core.Version);
        }

        private void Expire()
        {
            if (Interlocked.CompareExchange(ref _state, Expired, Sleeping) == Sleeping)
            {
                _core.SetResult(true);
            }
        }

        void IValueTaskSource.GetResult(short token)
        {
            try
            {
                _core.GetResult(token);
            }
            finally
            {
                _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                _cancellation.Dispose();
                _cancellation = default;
            }
        }

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        public void Dispose() => _timer?.Dispose();
    }
}

/// <summary>Resolved timing of one lock.</summary>
internal readonly record struct LockTiming(TimeSpan Expiry, bool AutoExtend, TimeSpan ExtensionInterval, TimeSpan? MaxHoldTime)
{
    public long ExpiryMilliseconds => (long)Expiry.TotalMilliseconds;
}

using System.Collections.Concurrent;
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
    private readonly Func<CancellationToken, ValueTask<IConnectionMultiplexer>>? _subscriberSource;
    private readonly object _gate = new();
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

    /// <summary>
    /// Waits for a lock after a failed first attempt: each round registers for the release notification
    /// first, then tries, then sleeps a jittered delay (capped by the holder's remaining time and the
    /// timeout) unless the notification comes first.
    /// </summary>
    public async ValueTask<IRedisLockHandle?> WaitAsync(LockPrimitive primitive, RedisValue token, TimeSpan timeout, long start, long lastResult, CancellationToken cancellationToken)
    {
        var notified = _subscriberSource is not null && await EnsureSubscribedAsync(cancellationToken).ConfigureAwait(false);
        var infinite = timeout == Timeout.InfiniteTimeSpan;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var signal = notified ? _waiters.GetOrAdd(primitive.SignalKey, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task : null;
            var attemptStart = Time.GetTimestamp();
            var result = await primitive.TryOnceAsync(token, cancellationToken).ConfigureAwait(false);
            if (result >= 0)
            {
                return primitive.Acquired(token, result, attemptStart, start);
            }

            lastResult = result;
            var elapsed = Time.GetElapsedTime(start);
            if (!infinite && elapsed >= timeout)
            {
                primitive.TimedOut(start);
                return null;
            }

            var delay = NextDelay(-1 - lastResult, infinite ? Timeout.InfiniteTimeSpan : timeout - elapsed);
            if (signal is null)
            {
                await Task.Delay(delay, Time, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var delayTask = Task.Delay(delay, Time, delayCancel.Token);
                var winner = await Task.WhenAny(signal, delayTask).ConfigureAwait(false);
                if (winner != delayTask)
                {
                    await delayCancel.CancelAsync().ConfigureAwait(false);
                }

                cancellationToken.ThrowIfCancellationRequested();
            }
        }
    }

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

    private Task<bool> EnsureSubscribedAsync(CancellationToken cancellationToken)
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
                _subscription = SubscribeAsync(cancellationToken);
            }

            return _subscription;
        }
    }

    private async Task<bool> SubscribeAsync(CancellationToken cancellationToken)
    {
        try
        {
            var multiplexer = await _subscriberSource!(cancellationToken).ConfigureAwait(false);
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
        if (_waiters.IsEmpty)
        {
            return;
        }

        var key = (string?)message;
        if (key is not null && _waiters.TryRemove(key, out var waiter))
        {
            waiter.TrySetResult();
        }
    }

    public void Dispose()
    {
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
    }
}

/// <summary>Resolved timing of one lock.</summary>
internal readonly record struct LockTiming(TimeSpan Expiry, bool AutoExtend, TimeSpan ExtensionInterval, TimeSpan? MaxHoldTime)
{
    public long ExpiryMilliseconds => (long)Expiry.TotalMilliseconds;
}

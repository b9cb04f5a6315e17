using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// The two-level cache. Hot path (L1 hit) is synchronous and allocation-free; everything else is in
/// the slow paths below. See docs/caching.md for the design (generations, tags, backplane).
/// </summary>
internal sealed partial class TwoLevelCache : IRedisCache, IAsyncDisposable
{
    internal const string Capability = "cache";
    private const string TagCapability = "cache-tag";
    private const string CounterCapability = "cache-counter";

    private static readonly RedisScript PutScript = RedisScript.FromResource("cache-put");
    private static readonly RedisScript RemoveScript = RedisScript.FromResource("cache-remove");
    private static readonly RedisScript BeginScript = RedisScript.FromResource("cache-begin");
    private static readonly RedisScript CommitScript = RedisScript.FromResource("cache-commit");
    private static readonly RedisScript UnlockScript = RedisScript.FromResource("cache-unlock");
    private static readonly RedisScript ExpireScript = RedisScript.FromResource("cache-expire");
    private static readonly RedisScript IncrementScript = RedisScript.FromResource("cache-increment");
    private static readonly RedisScript TagInvalidateScript = RedisScript.FromResource("cache-tag-invalidate");

    private readonly IRedisConnection _connection;
    private readonly IRedisSerializer _serializer;
    private readonly CacheOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CacheMetrics _metrics;
    private readonly MemoryCache? _l1;
    private readonly ConcurrentDictionary<string, Task> _inflight = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TagState> _tags = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _lifetime = new();
    private readonly string _instanceId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private readonly Lock _initGate = new();
    private Task? _initialized;
    private IConnectionMultiplexer? _multiplexer;
    private RedisChannel _channel;
    private long _epoch;
    private long _disconnectedSinceMs;
    private int _disposed;

    public TwoLevelCache(IRedisConnection connection, IRedisSerializer serializer, IOptions<CacheOptions> options, TimeProvider time, ILogger<TwoLevelCache> logger, CacheMetrics metrics)
    {
        _connection = connection;
        _serializer = serializer;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        if (_options.EnableL1)
        {
            _l1 = new MemoryCache(new MemoryCacheOptions { SizeLimit = _options.L1MaxEntries, CompactionPercentage = 0.1 });
        }
    }

    internal string InstanceId => _instanceId;

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    // ---------------------------------------------------------------- reads

    public ValueTask<CacheResult<T>> TryGetAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        if (TryGetFreshL1(key, skipL1: false, out var entry) && (entry.Negative || entry.Value is T || entry.Value is null))
        {
            _metrics.Hit(CacheMetrics.L1);
            return new ValueTask<CacheResult<T>>(ToResult<T>(entry));
        }

        return TryGetFromL2Async<T>(key, cancellationToken);
    }

    private async ValueTask<CacheResult<T>> TryGetFromL2Async<T>(string key, CancellationToken cancellationToken)
    {
        var read = await ReadL2Async<T>(key, cancellationToken).ConfigureAwait(false);
        if (read.Fresh is { } fresh)
        {
            return ToResult<T>(fresh);
        }

        _metrics.Miss(CacheMetrics.L2);
        return default;
    }

    public async ValueTask<T?> GetAsync<T>(string key, T? defaultValue = default, CancellationToken cancellationToken = default)
    {
        var result = await TryGetAsync<T>(key, cancellationToken).ConfigureAwait(false);
        return result.Found && !result.IsNotFound ? result.Value : defaultValue;
    }

    public async ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        if (TryGetFreshL1(key, skipL1: false, out _))
        {
            return true;
        }

        var header = await ReadHeaderAsync(key, cancellationToken).ConfigureAwait(false);
        return header is { } h && h.ExpiresAtMs > NowMs;
    }

    public async ValueTask<TimeSpan?> TimeToLiveAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        var header = await ReadHeaderAsync(key, cancellationToken).ConfigureAwait(false);
        if (header is not { } h)
        {
            return null;
        }

        if (h.ExpiresAtMs == long.MaxValue)
        {
            return Timeout.InfiniteTimeSpan;
        }

        var remaining = h.ExpiresAtMs - NowMs;
        return remaining > 0 ? TimeSpan.FromMilliseconds(remaining) : null;
    }

    public async ValueTask<IReadOnlyDictionary<string, T>> GetManyAsync<T>(IReadOnlyCollection<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var found = new Dictionary<string, T>(keys.Count, StringComparer.Ordinal);
        var missing = new List<string>(keys.Count);
        foreach (var key in keys.Distinct(StringComparer.Ordinal))
        {
            ValidateKey(key);
            if (TryGetFreshL1(key, skipL1: false, out var entry) && TryCast<T>(entry, out var value))
            {
                _metrics.Hit(CacheMetrics.L1);
                if (!entry.Negative)
                {
                    found[key] = value;
                }
            }
            else
            {
                missing.Add(key);
            }
        }

        if (missing.Count == 0)
        {
            return found;
        }

        try
        {
            var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var multiplexer = _multiplexer!;

            // MGET must stay within one hash slot on a cluster: one MGET per slot, all pipelined.
            var groups = missing.GroupBy(k => multiplexer.HashSlot(ValueKey(k))).ToArray();
            var reads = groups.Select(g => database.StringGetAsync(g.Select(ValueKey).ToArray())).ToArray();
            await Task.WhenAll(reads).WaitAsync(cancellationToken).ConfigureAwait(false);
            var decoded = new List<(string Key, L1Entry? Entry)>(missing.Count);
            for (var g = 0; g < groups.Length; g++)
            {
                var values = reads[g].Result;
                var i = 0;
                foreach (var key in groups[g])
                {
                    decoded.Add((key, await DecodeL2Async<T>(key, values[i++], cancellationToken).ConfigureAwait(false)));
                }
            }

            await RefreshTagsAsync(decoded.Where(d => d.Entry is not null).SelectMany(d => d.Entry!.Tags).DistinctBy(t => t.Tag).ToArray()).ConfigureAwait(false);
            {
                foreach (var (key, entry) in decoded)
                {
                    if (entry is { } e && IsFreshNow(e) && TryCast<T>(e, out var value))
                    {
                        _metrics.Hit(CacheMetrics.L2);
                        StoreL1(key, e, skipL1: false);
                        if (!e.Negative)
                        {
                            found[key] = value;
                        }
                    }
                    else
                    {
                        _metrics.Miss(CacheMetrics.L2);
                    }
                }
            }
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            LogReadFailed(_logger, ex);
        }

        return found;
    }

    // ---------------------------------------------------------------- get-or-set

    public ValueTask<T> GetOrSetAsync<T>(string key, Func<CacheFactoryContext<T>, CancellationToken, Task<T>> factory, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return GetOrSetAsync<Func<CacheFactoryContext<T>, CancellationToken, Task<T>>, T>(key, factory, static async (f, ctx, ct) => await f(ctx, ct).ConfigureAwait(false), options, tags, cancellationToken);
    }

    public ValueTask<T> GetOrSetAsync<T>(string key, Func<CancellationToken, Task<T>> factory, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return GetOrSetAsync<Func<CancellationToken, Task<T>>, T>(key, factory, static async (f, _, ct) => await f(ct).ConfigureAwait(false), options, tags, cancellationToken);
    }

    public ValueTask<T> GetOrSetAsync<TState, T>(string key, TState state, Func<TState, CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        ArgumentNullException.ThrowIfNull(factory);
        var entryOptions = options ?? _options.DefaultEntryOptions;
        if (TryGetFreshL1(key, entryOptions.SkipL1, out var entry))
        {
            _metrics.Hit(CacheMetrics.L1);
            if (entryOptions.EagerRefreshThreshold is { } threshold && IsPastEagerThreshold(entry, threshold))
            {
                StartEagerRefresh(key, state, factory, entryOptions, tags, entry);
            }

            if (TryCast<T>(entry, out var cached))
            {
                return new ValueTask<T>(cached);
            }
        }

        return GetOrSetSlowAsync(key, state, factory, entryOptions, tags, cancellationToken);
    }

    private async ValueTask<T> GetOrSetSlowAsync<TState, T>(string key, TState state, Func<TState, CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheEntryOptions options, IEnumerable<string>? tags, CancellationToken cancellationToken)
    {
        var read = await ReadL2Async<T>(key, cancellationToken, options.SkipL1).ConfigureAwait(false);
        if (read.Fresh is { } fresh)
        {
            if (options.EagerRefreshThreshold is { } threshold && IsPastEagerThreshold(fresh, threshold))
            {
                StartEagerRefresh(key, state, factory, options, tags, fresh);
            }

            if (TryCast<T>(fresh, out var value))
            {
                return value;
            }
        }

        _metrics.Miss(CacheMetrics.L2);
        var stale = PickStale<T>(key, read.Stale, options);
        var task = RunOnceAsync(key, state, factory, options, tags, stale, read.Failed);
        return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Single flight: one factory run per key in this process; everyone else awaits it.</summary>
    private Task<T> RunOnceAsync<TState, T>(string key, TState state, Func<TState, CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheEntryOptions options, IEnumerable<string>? tags, L1Entry? stale, bool redisFailed)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var existing = _inflight.GetOrAdd(key, completion.Task);
        if (!ReferenceEquals(existing, completion.Task))
        {
            return existing as Task<T>
                ?? throw new InvalidOperationException($"The cache key is already being produced as {existing.GetType().GenericTypeArguments.FirstOrDefault()?.Name}; one key must always hold one type.");
        }

        _ = ProduceAsync(key, state, factory, options, tags, stale, redisFailed, completion);
        return completion.Task;
    }

    private async Task ProduceAsync<TState, T>(string key, TState state, Func<TState, CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheEntryOptions options, IEnumerable<string>? tags, L1Entry? stale, bool redisFailed, TaskCompletionSource<T> completion)
    {
        T result = default!;
        Exception? error = null;
        try
        {
            result = await ProduceCoreAsync(key, state, factory, options, tags, stale, redisFailed).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            error = ex;
        }

        // Leave the in-flight map before waking the callers, so that whatever they do next (an eager
        // refresh, a new miss) is not mistaken for this run. The value is in L1 already.
        _inflight.TryRemove(new KeyValuePair<string, Task>(key, completion.Task));
        if (error is null)
        {
            completion.TrySetResult(result);
        }
        else
        {
            completion.TrySetException(error);
        }
    }

    private async Task<T> ProduceCoreAsync<TState, T>(string key, TState state, Func<TState, CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheEntryOptions options, IEnumerable<string>? tags, L1Entry? stale, bool redisFailed)
    {
        var generation = "0";
        var lockToken = "";
        var tagList = tags as IReadOnlyCollection<string> ?? tags?.ToArray() ?? [];
        if (!redisFailed)
        {
            try
            {
                var database = await GetDatabaseAsync(_lifetime.Token).ConfigureAwait(false);
                var token = _options.EnableDistributedLock ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)) : "";
                var begun = (RedisResult[])(await BeginScript.EvaluateAsync(database, [ValueKey(key), GenerationKey(key), LockKey(key)], [token, (long)_options.LockDuration.TotalMilliseconds]).ConfigureAwait(false))!;
                if (await DecodeL2Async<T>(key, (RedisValue)begun[0], _lifetime.Token).ConfigureAwait(false) is { } written
                    && written.WrittenAtMs > (stale?.WrittenAtMs ?? long.MinValue)
                    && IsFreshNow(written))
                {
                    // Another instance wrote it between our GET and now.
                    StoreL1(key, written, options.SkipL1);
                    return written.Negative ? default! : (T)written.Value!;
                }

                generation = (string)begun[1]!;
                if ((long)begun[2] == 1)
                {
                    lockToken = token;
                }
                else if (_options.EnableDistributedLock)
                {
                    if (await WaitForOtherInstanceAsync<T>(key, options).ConfigureAwait(false) is { } theirs)
                    {
                        return theirs.Negative ? default! : (T)theirs.Value!;
                    }

                    _metrics.LockTimeout();
                    LogLockWaitTimedOut(_logger, _options.LockWaitTimeout.TotalMilliseconds);
                }
            }
            catch (Exception ex) when (IsRedisFailure(ex))
            {
                redisFailed = true;
                LogReadFailed(_logger, ex);
            }
        }

        var stamps = redisFailed ? [] : await SnapshotTagsAsync(tagList).ConfigureAwait(false);
        var context = new CacheFactoryContext<T>(key, options, stale is not null, stale is null || stale.Negative ? default : (T)stale.Value!);
        var factoryTask = RunFactoryAsync(state, factory, context);

        try
        {
            if (stale is not null && options.FactorySoftTimeout is { } soft)
            {
                var timeout = Task.Delay(soft, _time, _lifetime.Token);
                if (await Task.WhenAny(factoryTask, timeout).ConfigureAwait(false) != factoryTask)
                {
                    _metrics.StaleServed(CacheMetrics.ReasonSoftTimeout);
                    CompleteInBackground(key, factoryTask, context, generation, lockToken, stamps, redisFailed);
                    return stale.Negative ? default! : (T)stale.Value!;
                }
            }

            T value;
            if (options.FactoryHardTimeout is { } hard)
            {
                try
                {
                    value = await factoryTask.WaitAsync(hard, _time).ConfigureAwait(false);
                }
                catch (TimeoutException) when (!factoryTask.IsCompleted)
                {
                    CompleteInBackground(key, factoryTask, context, generation, lockToken, stamps, redisFailed);
                    if (stale is not null)
                    {
                        _metrics.StaleServed(CacheMetrics.ReasonHardTimeout);
                        return stale.Negative ? default! : (T)stale.Value!;
                    }

                    throw new TimeoutException($"The cache factory did not finish within {hard.TotalMilliseconds:F0} ms (FactoryHardTimeout) and no stale value was available; it goes on in the background and stores its result.");
                }
            }
            else
            {
                value = await factoryTask.ConfigureAwait(false);
            }

            await CommitAsync(key, value, context, generation, lockToken, stamps, redisFailed).ConfigureAwait(false);
            return context.IsNotFound ? default! : value;
        }
        catch (Exception ex) when (ex is not TimeoutException || factoryTask.IsFaulted)
        {
            ReleaseLockInBackground(key, lockToken);
            if (stale is not null && options.FailSafe)
            {
                _metrics.StaleServed(CacheMetrics.ReasonFactoryError);
                LogFailSafe(_logger, ex);

                // Throttle: keep serving the stale value for a short while instead of retrying a failing factory on every call.
                var throttled = stale with { ExpiresAtMs = NowMs + (long)options.FailSafeThrottleDuration.TotalMilliseconds, Epoch = Volatile.Read(ref _epoch) };
                StoreL1(key, throttled, options.SkipL1);
                return stale.Negative ? default! : (T)stale.Value!;
            }

            throw;
        }
    }

    private async Task<T> RunFactoryAsync<TState, T>(TState state, Func<TState, CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheFactoryContext<T> context)
    {
        var started = _time.GetTimestamp();
        _metrics.FactoryCall();
        try
        {
            return await factory(state, context, _lifetime.Token).ConfigureAwait(false);
        }
        catch
        {
            _metrics.FactoryError();
            throw;
        }
        finally
        {
            _metrics.FactoryDuration(_time.GetElapsedTime(started));
        }
    }

    private void CompleteInBackground<T>(string key, Task<T> factoryTask, CacheFactoryContext<T> context, string generation, string lockToken, TagStamp[] stamps, bool redisFailed)
    {
        _ = factoryTask.ContinueWith(
            async t =>
            {
                if (t.IsCompletedSuccessfully)
                {
                    await CommitAsync(key, t.Result, context, generation, lockToken, stamps, redisFailed).ConfigureAwait(false);
                }
                else
                {
                    ReleaseLockInBackground(key, lockToken);
                    LogBackgroundFactoryFailed(_logger, t.Exception?.GetBaseException());
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default).Unwrap();
    }

    private void StartEagerRefresh<TState, T>(string key, TState state, Func<TState, CacheFactoryContext<T>, CancellationToken, ValueTask<T>> factory, CacheEntryOptions options, IEnumerable<string>? tags, L1Entry current)
    {
        if (_inflight.ContainsKey(key))
        {
            return;
        }

        _metrics.EagerRefresh();
        _ = RunOnceAsync(key, state, factory, options, tags, current, redisFailed: false)
            .ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    private async Task CommitAsync<T>(string key, T value, CacheFactoryContext<T> context, string generation, string lockToken, TagStamp[] stamps, bool redisFailed)
    {
        if (context.Skip)
        {
            ReleaseLockInBackground(key, lockToken);
            return;
        }

        var options = context.Options;
        var payload = context.IsNotFound ? [] : _serializer.Serialize(value);
        if (payload.Length > _options.MaxValueBytes)
        {
            ReleaseLockInBackground(key, lockToken);
            LogValueTooLarge(_logger, payload.Length, _options.MaxValueBytes);
            return;
        }

        var entry = NewEntry(context.IsNotFound ? default : value, context.IsNotFound, options, stamps, out var physicalTtlMs);
        StoreL1(key, entry, options.SkipL1);
        if (redisFailed)
        {
            return;
        }

        try
        {
            var database = await GetDatabaseAsync(_lifetime.Token).ConfigureAwait(false);
            var envelope = CacheEnvelope.Write(payload, entry.ExpiresAtMs, entry.WrittenAtMs, entry.Negative, stamps);
            var written = (long)await CommitScript.EvaluateAsync(database, [ValueKey(key), GenerationKey(key), LockKey(key)], [generation, envelope, physicalTtlMs, lockToken]).ConfigureAwait(false);
            if (written == 1)
            {
                await PublishAsync('k', key).ConfigureAwait(false);
            }
            else
            {
                // The key was written or removed while the factory ran: our result is older, so it is dropped
                // (and must not linger in L1 either).
                _metrics.WriteRejected();
                _l1?.Remove(key);
                LogStaleWriteRejected(_logger);
            }
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            LogWriteFailed(_logger, ex);
        }
    }

    private async Task<L1Entry?> WaitForOtherInstanceAsync<T>(string key, CacheEntryOptions options)
    {
        var waiter = _waiters.GetOrAdd(key, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var deadline = _time.GetTimestamp();
        try
        {
            while (_time.GetElapsedTime(deadline) < _options.LockWaitTimeout)
            {
                var remaining = _options.LockWaitTimeout - _time.GetElapsedTime(deadline);
                var poll = remaining < _options.LockPollInterval ? remaining : _options.LockPollInterval;
                await Task.WhenAny(waiter.Task, Task.Delay(poll, _time, _lifetime.Token)).ConfigureAwait(false);
                var read = await ReadL2Async<T>(key, _lifetime.Token, options.SkipL1).ConfigureAwait(false);
                if (read.Fresh is { } fresh)
                {
                    return fresh;
                }

                if (read.Failed)
                {
                    return null;
                }
            }

            return null;
        }
        finally
        {
            _waiters.TryRemove(new KeyValuePair<string, TaskCompletionSource>(key, waiter));
        }
    }

    private void ReleaseLockInBackground(string key, string lockToken)
    {
        if (lockToken.Length == 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                var database = await GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false);
                await UnlockScript.EvaluateAsync(database, [LockKey(key)], [lockToken]).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsRedisFailure(ex))
            {
                // The lock expires on its own (LockDuration).
            }
        });
    }

    // ---------------------------------------------------------------- writes

    public async ValueTask SetAsync<T>(string key, T value, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        var entryOptions = options ?? _options.DefaultEntryOptions;
        var payload = _serializer.Serialize(value);
        if (payload.Length > _options.MaxValueBytes)
        {
            throw new CacheValueTooLargeException(payload.Length, _options.MaxValueBytes);
        }

        var tagList = tags as IReadOnlyCollection<string> ?? tags?.ToArray() ?? [];
        var stamps = await SnapshotTagsAsync(tagList).ConfigureAwait(false);
        var entry = NewEntry(value, negative: false, entryOptions, stamps, out var physicalTtlMs);
        _l1?.Remove(key);
        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var envelope = CacheEnvelope.Write(payload, entry.ExpiresAtMs, entry.WrittenAtMs, negative: false, stamps);
        await PutScript.EvaluateAsync(database, [ValueKey(key), GenerationKey(key)], [envelope, physicalTtlMs, (long)_options.GenerationRetention.TotalMilliseconds]).ConfigureAwait(false);
        StoreL1(key, entry, entryOptions.SkipL1);
        await PublishAsync('k', key).ConfigureAwait(false);
    }

    public async ValueTask WriteThroughAsync<T>(string key, T value, Func<T, CancellationToken, Task> writeToStore, CacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(writeToStore);
        await writeToStore(value, cancellationToken).ConfigureAwait(false);
        await SetAsync(key, value, options, tags, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask SetManyAsync<T>(IEnumerable<KeyValuePair<string, T>> items, CacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var entryOptions = options ?? _options.DefaultEntryOptions;
        var prepared = new List<(string Key, L1Entry Entry, byte[] Envelope, long Ttl)>();
        foreach (var (key, value) in items)
        {
            ValidateKey(key);
            var payload = _serializer.Serialize(value);
            if (payload.Length > _options.MaxValueBytes)
            {
                throw new CacheValueTooLargeException(payload.Length, _options.MaxValueBytes);
            }

            var entry = NewEntry(value, negative: false, entryOptions, [], out var ttl);
            prepared.Add((key, entry, CacheEnvelope.Write(payload, entry.ExpiresAtMs, entry.WrittenAtMs, false, []), ttl));
        }

        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var generationTtl = (long)_options.GenerationRetention.TotalMilliseconds;
        var writes = prepared.Select(p => PutScript.EvaluateAsync(database, [ValueKey(p.Key), GenerationKey(p.Key)], [p.Envelope, p.Ttl, generationTtl])).ToArray();
        foreach (var p in prepared)
        {
            _l1?.Remove(p.Key);
        }

        await Task.WhenAll(writes).WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var p in prepared)
        {
            StoreL1(p.Key, p.Entry, entryOptions.SkipL1);
            await PublishAsync('k', p.Key).ConfigureAwait(false);
        }
    }

    public async ValueTask<bool> RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        _l1?.Remove(key);
        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var removed = (long)await RemoveScript.EvaluateAsync(database, [ValueKey(key), GenerationKey(key)], [(long)_options.GenerationRetention.TotalMilliseconds]).ConfigureAwait(false);
        _metrics.Invalidation(CacheMetrics.KindKey);
        await PublishAsync('k', key).ConfigureAwait(false);
        return removed == 1;
    }

    public async ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ValidateKey(tag);
        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var generation = (long)await TagInvalidateScript.EvaluateAsync(database, [TagKey(tag)], [(long)_options.TagRetention.TotalMilliseconds]).ConfigureAwait(false);
        ObserveTag(tag, generation);
        _metrics.Invalidation(CacheMetrics.KindTag);
        await PublishAsync('t', $"{generation}|{tag}").ConfigureAwait(false);
    }

    public async ValueTask<long> RemoveByPrefixAsync(string keyPrefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keyPrefix);
        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var multiplexer = _multiplexer!;
        RemoveL1ByPrefix(keyPrefix);
        var keys = _connection.Keys;

        // Values live at {prefix}:cache:{key}; the '{' is literal in a glob, the user part is escaped.
        var pattern = $"{KeyBuilder.EscapeGlob(keys.Prefix)}:{Capability}:{{{KeyBuilder.EscapeGlob(KeyBuilder.EncodeSegment(keyPrefix))}*";
        long removed = 0;
        foreach (var server in multiplexer.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            var batch = new List<RedisKey>(256);
            await foreach (var key in server.KeysAsync(database.Database, pattern, pageSize: 500).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                // Value keys end with the closing brace of their tag; ":gen" and ":lock" companions stay
                // (they expire on their own and keep the race protection of concurrent factories).
                if (!((string?)key)!.EndsWith('}'))
                {
                    continue;
                }

                batch.Add(key);
                if (batch.Count == 256)
                {
                    removed += await UnlinkAsync(database, multiplexer, batch).ConfigureAwait(false);
                    batch.Clear();
                }
            }

            removed += await UnlinkAsync(database, multiplexer, batch).ConfigureAwait(false);
        }

        _metrics.Invalidation(CacheMetrics.KindPrefix);
        await PublishAsync('p', keyPrefix).ConfigureAwait(false);
        return removed;
    }

    private static async Task<long> UnlinkAsync(IDatabase database, IConnectionMultiplexer multiplexer, List<RedisKey> batch)
    {
        if (batch.Count == 0)
        {
            return 0;
        }

        // Multi-key UNLINK must stay in one slot on a cluster: one command per slot, pipelined.
        var unlinks = batch.GroupBy(k => multiplexer.HashSlot(k))
            .Select(g => database.ExecuteAsync("UNLINK", g.Cast<object>().ToArray()))
            .ToArray();
        var results = await Task.WhenAll(unlinks).ConfigureAwait(false);
        return results.Sum(r => (long)r);
    }

    public async ValueTask<bool> ExpireAsync(string key, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(duration, TimeSpan.Zero);
        var options = _options.DefaultEntryOptions;
        var physical = duration + (options.FailSafe ? options.FailSafeMaxDuration : TimeSpan.Zero);
        var changed = await PatchExpiryAsync(key, NowMs + (long)duration.TotalMilliseconds, (long)physical.TotalMilliseconds, cancellationToken).ConfigureAwait(false);
        return changed;
    }

    public ValueTask<bool> PersistAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        return PatchExpiryAsync(key, long.MaxValue, -1, cancellationToken);
    }

    private async ValueTask<bool> PatchExpiryAsync(string key, long expiresAtMs, long physicalTtlMs, CancellationToken cancellationToken)
    {
        _l1?.Remove(key);
        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var changed = (long)await ExpireScript.EvaluateAsync(database, [ValueKey(key)], [CacheEnvelope.EncodeExpiry(expiresAtMs), physicalTtlMs]).ConfigureAwait(false);
        await PublishAsync('k', key).ConfigureAwait(false);
        return changed == 1;
    }

    public async ValueTask<long> IncrementAsync(string counter, long delta = 1, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(counter);
        var ttl = timeToLive ?? _options.DefaultEntryOptions.Duration;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero, nameof(timeToLive));
        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return (long)await IncrementScript.EvaluateAsync(database, [_connection.Keys.TaggedKey(CounterCapability, counter)], [delta, (long)ttl.TotalMilliseconds]).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- L1 and L2 helpers

    private bool TryGetFreshL1(string key, bool skipL1, out L1Entry entry)
    {
        if (_l1 is not null && !skipL1 && _l1.TryGetValue(key, out var value) && value is L1Entry found && IsFreshNow(found) && IsL1Trusted(found))
        {
            entry = found;
            return true;
        }

        entry = null!;
        return false;
    }

    private bool IsL1Trusted(L1Entry entry)
    {
        if (entry.Epoch != Volatile.Read(ref _epoch))
        {
            return false;
        }

        var since = Volatile.Read(ref _disconnectedSinceMs);
        return since == 0 || NowMs - since <= (long)_options.L1TrustWhileDisconnected.TotalMilliseconds;
    }

    private bool IsFreshNow(L1Entry entry) => entry.ExpiresAtMs > NowMs && AreTagsCurrent(entry.Tags);

    private bool AreTagsCurrent(TagStamp[] stamps)
    {
        if (stamps.Length == 0)
        {
            return true;
        }

        var now = NowMs;
        var interval = (long)_options.TagCheckInterval.TotalMilliseconds;
        foreach (var stamp in stamps)
        {
            if (!_tags.TryGetValue(stamp.Tag, out var state) || state.Generation != stamp.Generation || now - state.CheckedAtMs > interval)
            {
                return false;
            }
        }

        return true;
    }

    private bool IsPastEagerThreshold(L1Entry entry, double threshold)
    {
        var lifetime = entry.ExpiresAtMs - entry.WrittenAtMs;
        return lifetime > 0 && NowMs >= entry.WrittenAtMs + (long)(lifetime * threshold);
    }

    private L1Entry NewEntry<T>(T? value, bool negative, CacheEntryOptions options, TagStamp[] stamps, out long physicalTtlMs)
    {
        var now = NowMs;
        var duration = negative ? options.NegativeDuration : options.Duration;
        if (!negative && options.Jitter > TimeSpan.Zero)
        {
            duration += TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * options.Jitter.TotalMilliseconds);
        }

        var physical = duration + (options.FailSafe && !negative ? options.FailSafeMaxDuration : TimeSpan.Zero);
        if (stamps.Length > 0 && physical > _options.TagRetention)
        {
            // A tagged entry never outlives the memory of its tags' invalidations.
            physical = _options.TagRetention;
        }

        physicalTtlMs = Math.Max(1, (long)physical.TotalMilliseconds);
        return new L1Entry(value, now + (long)duration.TotalMilliseconds, now, negative, stamps, Volatile.Read(ref _epoch), now + physicalTtlMs);
    }

    private void StoreL1(string key, L1Entry entry, bool skipL1)
    {
        if (_l1 is null || skipL1)
        {
            return;
        }

        var keepUntil = entry.StaleUntilMs - NowMs;
        if (keepUntil <= 0)
        {
            return;
        }

        _l1.Set(key, entry, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = TimeSpan.FromMilliseconds(Math.Min(keepUntil, TimeSpan.FromDays(365).TotalMilliseconds)) });
    }

    private L1Entry? PickStale<T>(string key, L1Entry? fromL2, CacheEntryOptions options)
    {
        if (!options.FailSafe)
        {
            return null;
        }

        L1Entry? fromL1 = null;
        if (_l1 is not null && _l1.TryGetValue(key, out var value) && value is L1Entry cached)
        {
            fromL1 = cached;
        }

        var now = NowMs;
        var candidates = new[] { fromL1, fromL2 }.Where(e => e is not null && e.StaleUntilMs > now && TryCast<T>(e, out _));
        return candidates.OrderByDescending(e => e!.WrittenAtMs).FirstOrDefault();
    }

    private readonly record struct L2Read(L1Entry? Fresh, L1Entry? Stale, bool Failed);

    private async ValueTask<L2Read> ReadL2Async<T>(string key, CancellationToken cancellationToken, bool skipL1 = false)
    {
        RedisValue raw;
        try
        {
            var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            raw = await database.StringGetAsync(ValueKey(key)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            LogReadFailed(_logger, ex);
            return new L2Read(null, null, Failed: true);
        }

        var entry = await DecodeL2Async<T>(key, raw, cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return default;
        }

        if (entry.ExpiresAtMs > NowMs && await RefreshTagsAsync(entry.Tags).ConfigureAwait(false) && AreTagsCurrent(entry.Tags))
        {
            _metrics.Hit(CacheMetrics.L2);
            StoreL1(key, entry, skipL1);
            return new L2Read(entry, null, false);
        }

        return new L2Read(null, entry, false);
    }

    private async ValueTask<L1Entry?> DecodeL2Async<T>(string key, RedisValue raw, CancellationToken cancellationToken)
    {
        if (raw.IsNull)
        {
            return null;
        }

        ReadOnlyMemory<byte> bytes = raw;
        try
        {
            if (!CacheEnvelope.TryRead(bytes.Span, out var expiresAt, out var writtenAt, out var negative, out var stamps, out var offset))
            {
                throw new RedisSerializationException(typeof(T), bytes.Length, new FormatException("not a RedisKit cache envelope"));
            }

            var value = negative ? default : _serializer.Deserialize<T>(bytes.Span[offset..]);
            var options = _options.DefaultEntryOptions;
            return new L1Entry(value, expiresAt, writtenAt, negative, stamps, Volatile.Read(ref _epoch), expiresAt == long.MaxValue ? long.MaxValue : expiresAt + (long)options.FailSafeMaxDuration.TotalMilliseconds);
        }
        catch (RedisSerializationException ex)
        {
            // A corrupted entry is a miss: log it, count it, and remove it so it stops costing reads.
            _metrics.CorruptEntry();
            LogCorruptEntry(_logger, ex.TargetType.Name, ex.Length, ex);
            try
            {
                var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
                await database.KeyDeleteAsync(ValueKey(key), CommandFlags.FireAndForget).ConfigureAwait(false);
            }
            catch (Exception deleteFailure) when (IsRedisFailure(deleteFailure))
            {
                // It will be overwritten on the next write anyway.
            }

            return null;
        }
    }

    private async ValueTask<(long ExpiresAtMs, long WrittenAtMs)?> ReadHeaderAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var header = (byte[]?)await database.StringGetRangeAsync(ValueKey(key), 0, 16).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (header is null || header.Length < 17 || header[0] != CacheEnvelope.Version)
            {
                return null;
            }

            return (BitConverter.ToInt64(header, 1), BitConverter.ToInt64(header, 9));
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            LogReadFailed(_logger, ex);
            return null;
        }
    }

    // ---------------------------------------------------------------- tags

    private sealed record TagState(long Generation, long CheckedAtMs);

    private void ObserveTag(string tag, long generation)
    {
        var now = NowMs;
        _tags.AddOrUpdate(tag, static (_, s) => new TagState(s.generation, s.now), static (_, old, s) => new TagState(Math.Max(old.Generation, s.generation), s.now), (generation, now));
    }

    /// <summary>Makes sure the in-memory generation of each tag is recent (one pipelined GET per stale tag).</summary>
    private async ValueTask<bool> RefreshTagsAsync(IReadOnlyCollection<TagStamp> stamps)
    {
        if (stamps.Count == 0)
        {
            return true;
        }

        var stale = stamps.Select(s => s.Tag).Where(NeedsRefresh).ToArray();
        return stale.Length == 0 || await FetchTagsAsync(stale).ConfigureAwait(false);
    }

    private bool NeedsRefresh(string tag) =>
        !_tags.TryGetValue(tag, out var state) || NowMs - state.CheckedAtMs > (long)_options.TagCheckInterval.TotalMilliseconds;

    private async ValueTask<bool> FetchTagsAsync(string[] tags)
    {
        try
        {
            var database = await GetDatabaseAsync(_lifetime.Token).ConfigureAwait(false);
            var reads = tags.Select(t => database.StringGetAsync(TagKey(t))).ToArray();
            await Task.WhenAll(reads).ConfigureAwait(false);
            var now = NowMs;
            for (var i = 0; i < tags.Length; i++)
            {
                var generation = reads[i].Result.IsNull ? 0 : (long)reads[i].Result;
                _tags[tags[i]] = new TagState(generation, now);
            }

            return true;
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            LogReadFailed(_logger, ex);
            return false;
        }
    }

    private async ValueTask<TagStamp[]> SnapshotTagsAsync(IReadOnlyCollection<string> tags)
    {
        if (tags.Count == 0)
        {
            return [];
        }

        foreach (var tag in tags)
        {
            ValidateKey(tag);
        }

        var stale = tags.Where(NeedsRefresh).Distinct(StringComparer.Ordinal).ToArray();
        if (stale.Length > 0)
        {
            await FetchTagsAsync(stale).ConfigureAwait(false);
        }

        // A generation we could not read is recorded as -1: the entry is then never considered fresh.
        return tags.Distinct(StringComparer.Ordinal).Select(t => new TagStamp(t, _tags.TryGetValue(t, out var s) ? s.Generation : -1)).ToArray();
    }

    // ---------------------------------------------------------------- connection, backplane

    private ValueTask<IDatabase> GetDatabaseAsync(CancellationToken cancellationToken)
    {
        var initialized = _initialized;
        if (initialized is { IsCompletedSuccessfully: true })
        {
            return _connection.GetDatabaseAsync(cancellationToken);
        }

        return Slow(cancellationToken);

        async ValueTask<IDatabase> Slow(CancellationToken ct)
        {
            await InitializeAsync(ct).ConfigureAwait(false);
            return await _connection.GetDatabaseAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Hooks connection events and subscribes to the backplane (once). Never fails because Redis is down.</summary>
    internal Task InitializeAsync(CancellationToken cancellationToken = default)
    {
        lock (_initGate)
        {
            _initialized ??= InitializeCoreAsync();
            return _initialized.WaitAsync(cancellationToken);
        }
    }

    private async Task InitializeCoreAsync()
    {
        var multiplexer = await _connection.GetMultiplexerAsync().ConfigureAwait(false);
        _multiplexer = multiplexer;
        multiplexer.ConnectionFailed += OnConnectionFailed;
        multiplexer.ConnectionRestored += OnConnectionRestored;
        if (!_options.EnableBackplane)
        {
            return;
        }

        var name = $"{_connection.Keys.Prefix}:{Capability}:backplane";
        var sharded = _connection.Capabilities is { Topology: RedisTopology.Cluster } capabilities && capabilities.Has(RedisFeatures.ShardedPubSub);
        _channel = sharded ? RedisChannel.Sharded(name) : RedisChannel.Literal(name);
        try
        {
            await multiplexer.GetSubscriber().SubscribeAsync(_channel, OnBackplaneMessage).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            // StackExchange.Redis keeps the subscription and establishes it when the connection comes back.
            LogBackplaneSubscribeFailed(_logger, ex);
        }
    }

    private async ValueTask PublishAsync(char type, string payload)
    {
        if (!_options.EnableBackplane || _multiplexer is null)
        {
            return;
        }

        try
        {
            await _multiplexer.GetSubscriber().PublishAsync(_channel, $"{type}|{_instanceId}|{payload}", CommandFlags.FireAndForget).ConfigureAwait(false);
            _metrics.BackplaneMessage(CacheMetrics.DirectionSent);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            LogBackplanePublishFailed(_logger, ex);
        }
    }

    private void OnBackplaneMessage(RedisChannel channel, RedisValue message)
    {
        var text = (string?)message;
        if (text is null || text.Length < 3)
        {
            return;
        }

        var first = text.IndexOf('|', StringComparison.Ordinal);
        var second = first < 0 ? -1 : text.IndexOf('|', first + 1);
        if (first != 1 || second < 0)
        {
            return;
        }

        var sender = text.AsSpan(2, second - 2);
        var payload = text[(second + 1)..];
        if (sender.SequenceEqual(_instanceId))
        {
            return;
        }

        _metrics.BackplaneMessage(CacheMetrics.DirectionReceived);
        switch (text[0])
        {
            case 'k':
                _l1?.Remove(payload);
                if (_waiters.TryGetValue(payload, out var waiter))
                {
                    waiter.TrySetResult();
                }

                break;
            case 't':
                var bar = payload.IndexOf('|', StringComparison.Ordinal);
                if (bar > 0 && long.TryParse(payload.AsSpan(0, bar), out var generation))
                {
                    ObserveTag(payload[(bar + 1)..], generation);
                }

                break;
            case 'p':
                RemoveL1ByPrefix(payload);
                break;
        }
    }

    private void RemoveL1ByPrefix(string prefix)
    {
        if (_l1 is null)
        {
            return;
        }

        foreach (var key in _l1.Keys)
        {
            if (key is string text && text.StartsWith(prefix, StringComparison.Ordinal))
            {
                _l1.Remove(key);
            }
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        Interlocked.CompareExchange(ref _disconnectedSinceMs, NowMs, 0);
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        // Invalidations may have been missed while disconnected: no L1 entry from before is fresh any more
        // (they stay usable as fail-safe fallbacks), and tag generations are re-read.
        Interlocked.Increment(ref _epoch);
        _tags.Clear();
        Volatile.Write(ref _disconnectedSinceMs, 0);
        LogL1Distrusted(_logger);
    }

    private RedisKey ValueKey(string key) => _connection.Keys.TaggedKey(Capability, key);

    private RedisKey GenerationKey(string key) => _connection.Keys.TaggedKey(Capability, key, "gen");

    private RedisKey LockKey(string key) => _connection.Keys.TaggedKey(Capability, key, "lock");

    private RedisKey TagKey(string tag) => _connection.Keys.TaggedKey(TagCapability, tag);

    private void ValidateKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);

        // Builds nothing on the hot path; the length check happens where Redis keys are built.
        if (key.Length > _connection.Keys.MaxKeyLength)
        {
            throw new RedisKeyTooLongException(Capability, key.Length, _connection.Keys.MaxKeyLength);
        }
    }

    private static CacheResult<T> ToResult<T>(L1Entry entry) =>
        entry.Negative ? new CacheResult<T>(true, default, IsNotFound: true)
        : TryCast<T>(entry, out var value) ? new CacheResult<T>(true, value)
        : default;

    /// <summary>
    /// The entry's value as <typeparamref name="T"/>. A value cached under another type (a caller bug)
    /// is a miss rather than an InvalidCastException: reading must never fail the request.
    /// </summary>
    private static bool TryCast<T>(L1Entry entry, out T value)
    {
        if (entry.Negative || entry.Value is null)
        {
            value = default!;
            return entry.Negative || default(T) is null;
        }

        if (entry.Value is T typed)
        {
            value = typed;
            return true;
        }

        value = default!;
        return false;
    }

    internal static bool IsRedisFailure(Exception ex) => ex is RedisException or TimeoutException or RedisTimeoutException or ObjectDisposedException;

    public async ValueTask DisposeAsync()
    {
        // Registered under two service types, so the container may dispose it twice.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _lifetime.CancelAsync().ConfigureAwait(false);
        if (_multiplexer is { } multiplexer)
        {
            multiplexer.ConnectionFailed -= OnConnectionFailed;
            multiplexer.ConnectionRestored -= OnConnectionRestored;
            if (_options.EnableBackplane)
            {
                try
                {
                    await multiplexer.GetSubscriber().UnsubscribeAsync(_channel, OnBackplaneMessage).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsRedisFailure(ex))
                {
                    // Closing anyway.
                }
            }
        }

        _l1?.Dispose();
        _lifetime.Dispose();
    }
}

/// <summary>One cached value in L1 (and the decoded form of an L2 entry).</summary>
internal sealed record L1Entry(object? Value, long ExpiresAtMs, long WrittenAtMs, bool Negative, TagStamp[] Tags, long Epoch, long StaleUntilMs);

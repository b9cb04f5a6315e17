using System.Collections.Concurrent;
using StackExchange.Redis;

namespace RedisKit.RateLimiting;

/// <summary>A check waiting to be sent: it writes its own keys and arguments into the call and takes its part of the reply.</summary>
internal abstract class PendingCheck
{
    /// <summary>Its first key (cluster calls group checks by this key's slot; all its keys share that slot).</summary>
    public abstract RedisKey FirstKey { get; }

    public abstract int KeyCount { get; }

    /// <summary>Its script arguments, not counting the call's leading check count.</summary>
    public abstract int ArgumentCount { get; }

    public abstract int ReplyLength { get; }

    /// <summary>Writes its keys into the call's keys at <paramref name="keyOffset"/> and its arguments into the call's arguments at <paramref name="valueOffset"/>.</summary>
    public abstract void Write(RedisKey[] callKeys, int keyOffset, RedisValue[] callValues, int valueOffset);

    public abstract void Complete(ArraySegment<RedisResult> reply);

    public abstract void Fail(Exception exception);
}

/// <summary>A check of the generic layout, with prepared arrays; awaited through <see cref="Completion"/>.</summary>
internal sealed class GenericPendingCheck(RedisKey[] keys, RedisValue[] arguments) : PendingCheck
{
    public override RedisKey FirstKey => keys[0];

    public override int KeyCount => keys.Length;

    public override int ArgumentCount => arguments.Length;

    public override int ReplyLength => 2 + (3 * keys.Length);

    public TaskCompletionSource<ArraySegment<RedisResult>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Write(RedisKey[] callKeys, int keyOffset, RedisValue[] callValues, int valueOffset)
    {
        keys.CopyTo(callKeys, keyOffset);
        arguments.CopyTo(callValues, valueOffset);
    }

    public override void Complete(ArraySegment<RedisResult> reply) => Completion.TrySetResult(reply);

    public override void Fail(Exception exception) => Completion.TrySetException(exception);
}

/// <summary>
/// Sends checks to Redis. A check is sent at once when no script call is in flight; otherwise it waits for a turn of
/// the thread pool and a free slot (fewer than <see cref="MaxInFlight"/> calls in flight), and the checks that
/// arrived meanwhile go together in one call of the same script (on a cluster, one call per hash slot). Every check
/// still costs at most one round trip, is atomic on its own, and sees the effects of the checks before it in the same
/// call; under concurrency the per-call cost of Lua in Redis is shared by many checks. One coalescer per argument
/// layout: the generic multi-policy layout (leading count positive) or the single-policy fast path (leading count
/// negative), so a call never mixes the two.
/// </summary>
internal sealed class CheckCoalescer
{
    // Two calls in flight keep Redis busy (one running, the next waiting) while the checks that arrive meanwhile
    // gather into the call after them. With 4, the 64-caller benchmark saw about 13 checks per call; with 2, about
    // 20, and the sliding log went from 1.43–1.77x the seed's pipelined log (8 runs) to 1.58–1.85x (8 runs), since
    // each call's fixed cost in Redis is shared by more checks (docs/benchmarks/rate-limiting.md, runs 33–41).
    internal const int MaxInFlight = 2;
    internal const int MaxBatch = 64;
    private readonly IRedisConnection _connection;
    private readonly RedisScript _script;
    private readonly int _countSign;
    private readonly ConcurrentQueue<PendingCheck> _queue = new();
    private int _inFlight;
    private int _flushQueued;
    private int _topology; // 0 unknown, 1 single endpoint (any keys together), 2 cluster (group by slot)

    public CheckCoalescer(IRedisConnection connection, RedisScript script, bool fastPath = false)
    {
        _connection = connection;
        _script = script;
        _countSign = fastPath ? -1 : 1;
    }

    /// <summary>
    /// Queues the check; it is completed (or failed) when its call returns. With no call in flight it is sent at once.
    /// Otherwise the send waits for one turn of the thread pool, so that the callers woken by the same reply all join
    /// one call instead of the first of them taking a free slot alone.
    /// </summary>
    public void Submit(PendingCheck check)
    {
        _queue.Enqueue(check);
        if (Volatile.Read(ref _inFlight) == 0)
        {
            Pump();
        }
        else if (Interlocked.Exchange(ref _flushQueued, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static coalescer => coalescer.Flush(), this, preferLocal: false);
        }
    }

    private void Flush()
    {
        Volatile.Write(ref _flushQueued, 0);
        Pump();
    }

    /// <summary>Sends one check alone (coalescing disabled); it is completed (or failed) when its call returns.</summary>
    public void SendAlone(PendingCheck check) => _ = SendAloneAsync(check);

    private async Task SendAloneAsync(PendingCheck check)
    {
        try
        {
            var database = await _connection.GetDatabaseAsync().ConfigureAwait(false);
            await SendGroupAsync(database, [check]).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            check.Fail(ex);
        }
    }

    private void Pump()
    {
        while (!_queue.IsEmpty)
        {
            var current = Volatile.Read(ref _inFlight);
            if (current >= MaxInFlight)
            {
                return; // a call in flight pumps again when it completes
            }

            if (Interlocked.CompareExchange(ref _inFlight, current + 1, current) != current)
            {
                continue;
            }

            var batch = new List<PendingCheck>(Math.Min(MaxBatch, 8));
            while (batch.Count < MaxBatch && _queue.TryDequeue(out var check))
            {
                batch.Add(check);
            }

            if (batch.Count == 0)
            {
                Interlocked.Decrement(ref _inFlight);
                continue;
            }

            _ = SendAsync(batch);
        }
    }

    private async Task SendAsync(List<PendingCheck> batch)
    {
        try
        {
            var multiplexer = await _connection.GetMultiplexerAsync().ConfigureAwait(false);
            var database = await _connection.GetDatabaseAsync().ConfigureAwait(false);
            if (batch.Count == 1 || !IsCluster(multiplexer))
            {
                await SendGroupAsync(database, batch).ConfigureAwait(false);
            }
            else
            {
                var groups = batch.GroupBy(c => multiplexer.HashSlot(c.FirstKey)).Select(g => SendGroupAsync(database, [.. g]));
                await Task.WhenAll(groups).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            foreach (var check in batch)
            {
                check.Fail(ex);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            Pump();
        }
    }

    private bool IsCluster(IConnectionMultiplexer multiplexer)
    {
        var topology = Volatile.Read(ref _topology);
        if (topology == 0)
        {
            var servers = multiplexer.GetServers();
            if (servers.Length == 0 || !servers.Any(s => s.IsConnected))
            {
                return true; // not known yet: group by slot, which is always safe
            }

            topology = servers.Any(s => s.ServerType == ServerType.Cluster) ? 2 : 1;
            Volatile.Write(ref _topology, topology);
        }

        return topology == 2;
    }

    private async Task SendGroupAsync(IDatabase database, IReadOnlyList<PendingCheck> group)
    {
        try
        {
            var keyCount = 0;
            var valueCount = 1;
            for (var i = 0; i < group.Count; i++)
            {
                keyCount += group[i].KeyCount;
                valueCount += group[i].ArgumentCount;
            }

            var keys = new RedisKey[keyCount];
            var values = new RedisValue[valueCount];
            values[0] = _countSign * group.Count;
            int k = 0, v = 1;
            for (var i = 0; i < group.Count; i++)
            {
                var check = group[i];
                check.Write(keys, k, values, v);
                k += check.KeyCount;
                v += check.ArgumentCount;
            }

            var items = (RedisResult[])(await _script.EvaluateAsync(database, keys, values).ConfigureAwait(false))!;
            var offset = 0;
            for (var i = 0; i < group.Count; i++)
            {
                var check = group[i];
                check.Complete(new ArraySegment<RedisResult>(items, offset, check.ReplyLength));
                offset += check.ReplyLength;
            }
        }
        catch (Exception ex)
        {
            foreach (var check in group)
            {
                check.Fail(ex);
            }
        }
    }
}

using System.Collections.Concurrent;
using StackExchange.Redis;

namespace RedisKit.RateLimiting;

/// <summary>
/// One check waiting to be sent: its keys, its script arguments, its reply length. <see cref="Arguments"/>[0] is
/// reserved for the call's leading check count, so a check sent alone is sent without copying its arguments.
/// </summary>
internal sealed class PendingCheck(RedisKey[] keys, RedisValue[] arguments, int replyLength)
{
    public RedisKey[] Keys { get; } = keys;

    public RedisValue[] Arguments { get; } = arguments;

    public int ReplyLength { get; } = replyLength;

    public TaskCompletionSource<ArraySegment<RedisResult>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// Sends checks to Redis. Each check is sent at once while fewer than <see cref="MaxInFlight"/> script calls are
/// in flight; checks that arrive meanwhile wait for a free slot and then go together in one call of the same
/// script (on a cluster, one call per hash slot). Every check still costs at most one round trip, is atomic on its
/// own, and sees the effects of the checks before it in the same call; under concurrency the per-call cost of Lua
/// in Redis is shared by many checks. One coalescer per argument layout: the generic multi-policy layout (leading
/// count positive) or the single-policy fast path (leading count negative), so a call never mixes the two.
/// </summary>
internal sealed class CheckCoalescer
{
    internal const int MaxInFlight = 4;
    internal const int MaxBatch = 64;
    private readonly IRedisConnection _connection;
    private readonly RedisScript _script;
    private readonly int _countSign;
    private readonly ConcurrentQueue<PendingCheck> _queue = new();
    private int _inFlight;
    private int _topology; // 0 unknown, 1 single endpoint (any keys together), 2 cluster (group by slot)

    public CheckCoalescer(IRedisConnection connection, RedisScript script, bool fastPath = false)
    {
        _connection = connection;
        _script = script;
        _countSign = fastPath ? -1 : 1;
    }

    public Task<ArraySegment<RedisResult>> SubmitAsync(PendingCheck check)
    {
        _queue.Enqueue(check);
        Pump();
        return check.Completion.Task;
    }

    /// <summary>Sends one check alone (coalescing disabled).</summary>
    public async Task<ArraySegment<RedisResult>> SendAloneAsync(PendingCheck check)
    {
        var database = await _connection.GetDatabaseAsync().ConfigureAwait(false);
        await SendGroupAsync(database, [check]).ConfigureAwait(false);
        return await check.Completion.Task.ConfigureAwait(false);
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
                var groups = batch.GroupBy(c => multiplexer.HashSlot(c.Keys[0])).Select(g => SendGroupAsync(database, [.. g]));
                await Task.WhenAll(groups).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            foreach (var check in batch)
            {
                check.Completion.TrySetException(ex);
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
            RedisKey[] keys;
            RedisValue[] values;
            if (group.Count == 1)
            {
                keys = group[0].Keys;
                values = group[0].Arguments;
                values[0] = _countSign;
            }
            else
            {
                var keyCount = 0;
                var valueCount = 1;
                for (var i = 0; i < group.Count; i++)
                {
                    keyCount += group[i].Keys.Length;
                    valueCount += group[i].Arguments.Length - 1;
                }

                keys = new RedisKey[keyCount];
                values = new RedisValue[valueCount];
                values[0] = _countSign * group.Count;
                int k = 0, v = 1;
                for (var i = 0; i < group.Count; i++)
                {
                    var check = group[i];
                    check.Keys.CopyTo(keys, k);
                    k += check.Keys.Length;
                    Array.Copy(check.Arguments, 1, values, v, check.Arguments.Length - 1);
                    v += check.Arguments.Length - 1;
                }
            }

            var items = (RedisResult[])(await _script.EvaluateAsync(database, keys, values).ConfigureAwait(false))!;
            var offset = 0;
            for (var i = 0; i < group.Count; i++)
            {
                var check = group[i];
                check.Completion.TrySetResult(new ArraySegment<RedisResult>(items, offset, check.ReplyLength));
                offset += check.ReplyLength;
            }
        }
        catch (Exception ex)
        {
            foreach (var check in group)
            {
                check.Completion.TrySetException(ex);
            }
        }
    }
}

using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using System.Threading.Tasks.Sources;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit.RateLimiting;

/// <summary>
/// The Redis implementation of <see cref="IRedisRateLimiter"/>. A check of one windowed policy (the common case) takes
/// the script's single-policy fast path; several policies, or a concurrency policy, take its generic multi-policy path.
/// Both make the same decisions; each check is one <c>EVALSHA</c>.
/// </summary>
internal sealed partial class RedisRateLimiter : IRedisRateLimiter, IDisposable
{
    internal const string Capability = "ratelimit";
    private static readonly RedisScript CheckScript = RedisScript.FromResource("ratelimit-check");
    internal static readonly RedisScript HeartbeatScript = RedisScript.FromResource("ratelimit-heartbeat");
    internal static readonly RedisScript ReleaseScript = RedisScript.FromResource("ratelimit-release");
    private static readonly ConditionalWeakTable<RateLimitPolicy, object> Validated = new();

    private readonly IRedisConnection _connection;
    private readonly RedisRateLimitingOptions _options;
    private readonly Dictionary<string, RateLimitPolicy[]> _single;
    private readonly LocalFallbackLimiters _fallback;
    private readonly CheckCoalescer _coalescer;
    private readonly CheckCoalescer _fastCoalescer;
    private long _failuresSinceLog;
    private long _failuresInOutage;
    private long _lastFailureLogTicks = long.MinValue;

    public RedisRateLimiter(IRedisConnection connection, IOptions<RedisRateLimitingOptions> options, TimeProvider timeProvider, RateLimitingMetrics metrics, ILogger<RedisRateLimiter> logger)
    {
        _connection = connection;
        _options = options.Value;
        TimeProvider = timeProvider;
        Metrics = metrics;
        Logger = logger;
        _single = _options.Policies.ToDictionary(p => p.Key, p => new[] { p.Value }, StringComparer.Ordinal);
        foreach (var policy in _options.Policies.Values)
        {
            Validated.TryAdd(policy, policy);
        }

        _coalescer = new CheckCoalescer(connection, CheckScript);
        _fastCoalescer = new CheckCoalescer(connection, CheckScript, fastPath: true);
        _fallback = new LocalFallbackLimiters(_options.LocalFallbackMaxPartitions, count => LogFallbackReset(Logger, count));
    }

    internal TimeProvider TimeProvider { get; }

    internal RateLimitingMetrics Metrics { get; }

    internal ILogger Logger { get; }

    public RateLimitPolicy GetPolicy(string policyName) => GetPolicies(policyName)[0];

    public ValueTask<RateLimitDecision> CheckAsync(string partition, string policyName, long cost = 1, CancellationToken cancellationToken = default) =>
        CheckAsync(partition, GetPolicies(policyName), cost, cancellationToken);

    public ValueTask<RateLimitDecision> CheckAsync(string partition, IReadOnlyList<RateLimitPolicy> policies, long cost = 1, CancellationToken cancellationToken = default)
    {
        try
        {
            Prepare(partition, policies, cost, allowConcurrency: false);
        }
        catch (ArgumentException ex)
        {
            return ValueTask.FromException<RateLimitDecision>(ex);
        }

        return policies.Count == 1
            ? CheckSingle(partition, policies, cost, cancellationToken)
            : CheckManyAsync(partition, policies, cost, cancellationToken);
    }

    private async ValueTask<RateLimitDecision> CheckManyAsync(string partition, IReadOnlyList<RateLimitPolicy> policies, long cost, CancellationToken cancellationToken)
    {
        var (decision, _) = await RunAsync(partition, policies, cost, leaseId: null, cancellationToken).ConfigureAwait(false);
        return decision;
    }

    /// <summary>
    /// One windowed policy (validated, not a concurrency limiter): the script's fast path. The check object is the
    /// awaited value task's source, so a check allocates its key, that object and its decision; no async state machine,
    /// no task, no argument arrays of its own (they are written straight into the call's arrays).
    /// </summary>
    private ValueTask<RateLimitDecision> CheckSingle(string partition, IReadOnlyList<RateLimitPolicy> policies, long cost, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<RateLimitDecision>(cancellationToken);
        }

        RedisKey key;
        try
        {
            key = KeyFor(partition, policies[0]);
        }
        catch (RedisKeyTooLongException ex)
        {
            return ValueTask.FromException<RateLimitDecision>(ex); // as from an async method
        }

        var check = new FastCheck(this, key, partition, policies, cost, cancellationToken);
        if (_options.CoalesceConcurrentChecks)
        {
            _fastCoalescer.Submit(check);
        }
        else
        {
            _fastCoalescer.SendAlone(check);
        }

        return check.Task;
    }

    public ValueTask<RedisRateLimitLease> AcquireAsync(string partition, string policyName, long cost = 1, CancellationToken cancellationToken = default) =>
        AcquireAsync(partition, GetPolicies(policyName), cost, cancellationToken);

    public async ValueTask<RedisRateLimitLease> AcquireAsync(string partition, IReadOnlyList<RateLimitPolicy> policies, long cost = 1, CancellationToken cancellationToken = default)
    {
        Prepare(partition, policies, cost, allowConcurrency: true);
        var hasConcurrency = false;
        for (var i = 0; i < policies.Count; i++)
        {
            hasConcurrency |= policies[i].Algorithm == RateLimitAlgorithm.Concurrency;
        }

        if (!hasConcurrency && policies.Count == 1)
        {
            return new RedisRateLimitLease(await CheckSingle(partition, policies, cost, cancellationToken).ConfigureAwait(false));
        }

        var leaseId = hasConcurrency && cost > 0 ? Guid.NewGuid().ToString("N") : null;
        var (decision, localLeases) = await RunAsync(partition, policies, cost, leaseId, cancellationToken).ConfigureAwait(false);
        if (!decision.IsAllowed || leaseId is null)
        {
            DisposeAll(localLeases);
            return new RedisRateLimitLease(decision);
        }

        if (decision.Source != RateLimitDecisionSource.Redis)
        {
            // Redis did not record the lease: only the local concurrency leases (if any) are held.
            return new RedisRateLimitLease(decision, localLeases);
        }

        DisposeAll(localLeases);
        var keys = new List<RedisKey>();
        var ttls = new List<long>();
        for (var i = 0; i < policies.Count; i++)
        {
            if (policies[i].Algorithm == RateLimitAlgorithm.Concurrency)
            {
                keys.Add(KeyFor(partition, policies[i]));
                ttls.Add(policies[i].LeaseTtlMilliseconds);
            }
        }

        return new RedisRateLimitLease(decision, this, [.. keys], [.. ttls], leaseId, cost, string.Join(",", policies.Select(p => p.Name)));
    }

    internal ValueTask<IDatabase> GetDatabaseAsync(CancellationToken cancellationToken) => _connection.GetDatabaseAsync(cancellationToken);

    internal RedisKey KeyFor(string partition, RateLimitPolicy policy) => _connection.Keys.TaggedKey(Capability, partition, policy.Name);

    private RateLimitPolicy[] GetPolicies(string policyName)
    {
        ArgumentNullException.ThrowIfNull(policyName);
        return _single.TryGetValue(policyName, out var policies)
            ? policies
            : throw new KeyNotFoundException($"No rate limit policy named '{policyName}' is configured (RedisKit:RateLimiting:Policies).");
    }

    private static void Prepare(string partition, IReadOnlyList<RateLimitPolicy> policies, long cost, bool allowConcurrency)
    {
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentOutOfRangeException.ThrowIfNegative(cost);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(cost, int.MaxValue);
        if (policies.Count == 0)
        {
            throw new ArgumentException("At least one policy is needed.", nameof(policies));
        }

        for (var i = 0; i < policies.Count; i++)
        {
            var policy = policies[i] ?? throw new ArgumentException("A policy is null.", nameof(policies));
            if (!Validated.TryGetValue(policy, out _))
            {
                policy.Validate();
                Validated.TryAdd(policy, policy);
            }

            if (!allowConcurrency && policy.Algorithm == RateLimitAlgorithm.Concurrency)
            {
                throw new ArgumentException($"Policy '{policy.Name}' is a concurrency limiter: use AcquireAsync and dispose the lease.", nameof(policies));
            }

            for (var j = 0; j < i; j++)
            {
                if (string.Equals(policies[j].Name, policy.Name, StringComparison.Ordinal))
                {
                    throw new ArgumentException($"Policy name '{policy.Name}' appears twice in one check.", nameof(policies));
                }
            }
        }
    }

    private async ValueTask<(RateLimitDecision Decision, List<RateLimitLease>? LocalLeases)> RunAsync(string partition, IReadOnlyList<RateLimitPolicy> policies, long cost, string? leaseId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var started = Stopwatch.GetTimestamp();
        var keys = new RedisKey[policies.Count];
        var values = new RedisValue[3 + policies.Count];
        values[0] = policies.Count;
        values[1] = cost;
        values[2] = leaseId ?? "";
        for (var i = 0; i < policies.Count; i++)
        {
            keys[i] = KeyFor(partition, policies[i]);
            values[3 + i] = policies[i].ScriptSpec;
        }

        RateLimitDecision decision;
        List<RateLimitLease>? localLeases = null;
        try
        {
            var pending = new GenericPendingCheck(keys, values);
            if (_options.CoalesceConcurrentChecks)
            {
                _coalescer.Submit(pending);
            }
            else
            {
                _coalescer.SendAlone(pending);
            }

            var task = pending.Completion.Task;
            var reply = cancellationToken.CanBeCanceled
                ? await task.WaitAsync(cancellationToken).ConfigureAwait(false)
                : await task.ConfigureAwait(false);
            decision = Parse(reply, policies);
            RedisAnswered();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            (decision, localLeases) = Fallback(partition, policies, cost, ex);
        }

        Finish(decision, started);
        return (decision, localLeases);
    }

    private void RedisAnswered()
    {
        if (Volatile.Read(ref _failuresInOutage) > 0 && Interlocked.Exchange(ref _failuresInOutage, 0) is > 0 and var failures)
        {
            LogRedisRestored(Logger, failures);
        }
    }

    private void Finish(RateLimitDecision decision, long started)
    {
        Metrics.Decision(decision, started);
        if (!decision.IsAllowed)
        {
            LogDenied(Logger, decision.Deciding.Policy.Name, decision.RetryAfter);
        }
    }

    private const int FastReplyLength = 3;

    /// <summary>The fast path's reply of one check: remaining, reset ms, retry-after ms (0 exactly when allowed).</summary>
    private static RateLimitDecision ParseFast(ArraySegment<RedisResult> items, IReadOnlyList<RateLimitPolicy> policies)
    {
        var reset = (long)items[1];
        var retry = (long)items[2];
        var result = new RateLimitPolicyResult(
            policies[0],
            retry == 0,
            (long)items[0],
            TimeSpan.FromMilliseconds(Math.Max(0, reset)),
            retry > 0 ? TimeSpan.FromMilliseconds(retry) : null);
        return new RateLimitDecision(retry == 0, result, RateLimitDecisionSource.Redis);
    }

    /// <summary>A single-policy check on the fast path: what it sends, and the source of the value task its caller awaits.</summary>
    private sealed class FastCheck : PendingCheck, IValueTaskSource<RateLimitDecision>
    {
        private readonly RedisRateLimiter _limiter;
        private readonly RedisKey _key;
        private readonly string _partition;
        private readonly IReadOnlyList<RateLimitPolicy> _policies;
        private readonly long _cost;
        private readonly long _started;
        private readonly CancellationTokenRegistration _cancellation;
        private ManualResetValueTaskSourceCore<RateLimitDecision> _core;
        private int _done;

        public FastCheck(RedisRateLimiter limiter, RedisKey key, string partition, IReadOnlyList<RateLimitPolicy> policies, long cost, CancellationToken cancellationToken)
        {
            _limiter = limiter;
            _key = key;
            _partition = partition;
            _policies = policies;
            _cost = cost;
            _started = Stopwatch.GetTimestamp();
            _core.RunContinuationsAsynchronously = true;
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((FastCheck)state!).Cancel(token), this);
            }
        }

        public ValueTask<RateLimitDecision> Task => new(this, _core.Version);

        public override RedisKey FirstKey => _key;

        public override int KeyCount => 1;

        public override int ArgumentCount => 2;

        public override int ReplyLength => FastReplyLength;

        public override void Write(RedisKey[] callKeys, int keyOffset, RedisValue[] callValues, int valueOffset)
        {
            callKeys[keyOffset] = _key;
            callValues[valueOffset] = _policies[0].ScriptSpec;
            callValues[valueOffset + 1] = _cost;
        }

        public override void Complete(ArraySegment<RedisResult> reply)
        {
            if (Volatile.Read(ref _done) != 0)
            {
                return;
            }

            RateLimitDecision decision;
            try
            {
                decision = ParseFast(reply, _policies);
            }
            catch (Exception ex)
            {
                Fail(ex);
                return;
            }

            _limiter.RedisAnswered();
            SetResult(decision);
        }

        public override void Fail(Exception exception)
        {
            if (exception is not (RedisException or TimeoutException))
            {
                if (Interlocked.Exchange(ref _done, 1) == 0)
                {
                    _cancellation.Dispose();
                    _core.SetException(exception);
                }

                return;
            }

            if (Volatile.Read(ref _done) != 0)
            {
                return;
            }

            var (decision, _) = _limiter.Fallback(_partition, _policies, _cost, exception); // window leases hold nothing
            SetResult(decision);
        }

        private void SetResult(RateLimitDecision decision)
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                _cancellation.Dispose();
                _limiter.Finish(decision, _started);
                _core.SetResult(decision);
            }
        }

        private void Cancel(CancellationToken token)
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                _core.SetException(new TaskCanceledException(null, null, token));
            }
        }

        public RateLimitDecision GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    private static RateLimitDecision Parse(ArraySegment<RedisResult> items, IReadOnlyList<RateLimitPolicy> policies)
    {
        var allowed = (long)items[0] == 1;
        var results = new RateLimitPolicyResult[policies.Count];
        for (var i = 0; i < results.Length; i++)
        {
            var remaining = (long)items[2 + (3 * i)];
            var reset = (long)items[3 + (3 * i)];
            var retry = (long)items[4 + (3 * i)];
            results[i] = new RateLimitPolicyResult(
                policies[i],
                retry == 0,
                remaining,
                TimeSpan.FromMilliseconds(Math.Max(0, reset)),
                retry > 0 ? TimeSpan.FromMilliseconds(retry) : null);
        }

        return RateLimitDecision.Create(allowed, results, RateLimitDecisionSource.Redis);
    }

    private (RateLimitDecision, List<RateLimitLease>?) Fallback(string partition, IReadOnlyList<RateLimitPolicy> policies, long cost, Exception exception)
    {
        Interlocked.Increment(ref _failuresInOutage);
        LogFailureThrottled(policies, exception);
        var results = new RateLimitPolicyResult[policies.Count];
        var allowed = true;
        List<RateLimitLease>? leases = null;

        // Fail-closed policies first: when one denies, no local limiter is touched (their permits cannot be given back).
        for (var i = 0; i < policies.Count; i++)
        {
            if (policies[i].FailureMode == RateLimitFailureMode.FailClosed)
            {
                results[i] = new RateLimitPolicyResult(policies[i], false, 0, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
                allowed = false;
            }
        }

        for (var i = 0; i < policies.Count; i++)
        {
            var policy = policies[i];
            Metrics.Failure(policy);
            switch (policy.FailureMode)
            {
                case RateLimitFailureMode.FailClosed:
                    break;
                case RateLimitFailureMode.LocalFallback:
                    if (!allowed)
                    {
                        // An earlier policy already denied: consume nothing locally either.
                        results[i] = new RateLimitPolicyResult(policy, true, policy.PermitLimit, TimeSpan.Zero, null);
                        break;
                    }

                    var lease = _fallback.Acquire(policy, partition, cost);
                    if (lease.IsAcquired)
                    {
                        (leases ??= []).Add(lease);
                        results[i] = new RateLimitPolicyResult(policy, true, 0, policy.Window, null);
                    }
                    else
                    {
                        lease.TryGetMetadata(MetadataName.RetryAfter, out var retry);
                        lease.Dispose();
                        var retryAfter = cost > policy.PermitLimit ? (TimeSpan?)null : retry == default ? TimeSpan.FromSeconds(1) : retry;
                        results[i] = new RateLimitPolicyResult(policy, false, 0, retryAfter ?? policy.Window, retryAfter);
                        allowed = false;
                    }

                    break;
                default:
                    results[i] = new RateLimitPolicyResult(policy, true, policy.PermitLimit, TimeSpan.Zero, null);
                    break;
            }
        }

        if (!allowed)
        {
            // Concurrency leases are given back; window and bucket permits taken by an earlier local policy cannot be
            // (System.Threading.RateLimiting does not refund them): documented as a limitation of the fallback.
            DisposeAll(leases);
            leases = null;
        }

        return (RateLimitDecision.Create(allowed, results, RateLimitDecisionSource.FailureMode), leases);
    }

    private void LogFailureThrottled(IReadOnlyList<RateLimitPolicy> policies, Exception exception)
    {
        var now = TimeProvider.GetTimestamp();
        var last = Interlocked.Read(ref _lastFailureLogTicks);
        var interval = _options.FailureLogInterval;
        if (last != long.MinValue && TimeProvider.GetElapsedTime(last, now) < interval)
        {
            Interlocked.Increment(ref _failuresSinceLog);
            return;
        }

        if (Interlocked.CompareExchange(ref _lastFailureLogTicks, now, last) == last)
        {
            LogRedisUnavailable(Logger, string.Join(",", policies.Select(p => p.Name)), Interlocked.Exchange(ref _failuresSinceLog, 0), exception);
        }
        else
        {
            Interlocked.Increment(ref _failuresSinceLog);
        }
    }

    private static void DisposeAll(List<RateLimitLease>? leases)
    {
        if (leases is null)
        {
            return;
        }

        foreach (var lease in leases)
        {
            lease.Dispose();
        }
    }

    public void Dispose() => _fallback.Dispose();
}

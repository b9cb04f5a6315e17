using System.Diagnostics.Metrics;

namespace RedisKit;

/// <summary>Names of the cache's instruments (meter <see cref="RedisKitDiagnostics.MeterName"/>).</summary>
public static class CacheInstruments
{
    /// <summary>Counter: hits, tagged <c>level</c> = <c>l1</c> | <c>l2</c>.</summary>
    public const string Hits = "rediskit.cache.hits";

    /// <summary>Counter: misses, tagged <c>level</c>.</summary>
    public const string Misses = "rediskit.cache.misses";

    /// <summary>Counter: stale values served by fail-safe, tagged <c>reason</c> = <c>factory_error</c> | <c>soft_timeout</c> | <c>hard_timeout</c>.</summary>
    public const string StaleServed = "rediskit.cache.stale_served";

    /// <summary>Counter: factory runs.</summary>
    public const string FactoryCalls = "rediskit.cache.factory.calls";

    /// <summary>Counter: factory runs that threw.</summary>
    public const string FactoryErrors = "rediskit.cache.factory.errors";

    /// <summary>Histogram: factory duration in seconds.</summary>
    public const string FactoryDuration = "rediskit.cache.factory.duration";

    /// <summary>Counter: invalidations, tagged <c>kind</c> = <c>key</c> | <c>tag</c> | <c>prefix</c>.</summary>
    public const string Invalidations = "rediskit.cache.invalidations";

    /// <summary>Counter: backplane messages, tagged <c>direction</c> = <c>sent</c> | <c>received</c>.</summary>
    public const string BackplaneMessages = "rediskit.cache.backplane.messages";

    /// <summary>Counter: entries that could not be decoded (logged, removed, treated as misses).</summary>
    public const string CorruptEntries = "rediskit.cache.corrupt_entries";

    /// <summary>Counter: factory results dropped because the key was written or invalidated while the factory ran.</summary>
    public const string WritesRejected = "rediskit.cache.writes_rejected";

    /// <summary>Counter: misses whose wait for another instance's factory timed out (the factory then ran here).</summary>
    public const string LockTimeouts = "rediskit.cache.lock_timeouts";

    /// <summary>Counter: background refreshes started by eager refresh.</summary>
    public const string EagerRefreshes = "rediskit.cache.eager_refreshes";
}

/// <summary>The cache's instruments. Tag arrays are static so recording allocates nothing.</summary>
internal sealed class CacheMetrics
{
    internal static readonly KeyValuePair<string, object?> L1 = new("level", "l1");
    internal static readonly KeyValuePair<string, object?> L2 = new("level", "l2");
    internal static readonly KeyValuePair<string, object?> ReasonFactoryError = new("reason", "factory_error");
    internal static readonly KeyValuePair<string, object?> ReasonSoftTimeout = new("reason", "soft_timeout");
    internal static readonly KeyValuePair<string, object?> ReasonHardTimeout = new("reason", "hard_timeout");
    internal static readonly KeyValuePair<string, object?> KindKey = new("kind", "key");
    internal static readonly KeyValuePair<string, object?> KindTag = new("kind", "tag");
    internal static readonly KeyValuePair<string, object?> KindPrefix = new("kind", "prefix");
    internal static readonly KeyValuePair<string, object?> DirectionSent = new("direction", "sent");
    internal static readonly KeyValuePair<string, object?> DirectionReceived = new("direction", "received");

    private readonly Counter<long> _hits;
    private readonly Counter<long> _misses;
    private readonly Counter<long> _staleServed;
    private readonly Counter<long> _factoryCalls;
    private readonly Counter<long> _factoryErrors;
    private readonly Histogram<double> _factoryDuration;
    private readonly Counter<long> _invalidations;
    private readonly Counter<long> _backplane;
    private readonly Counter<long> _corrupt;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _lockTimeouts;
    private readonly Counter<long> _eager;

    public CacheMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(RedisKitDiagnostics.MeterName);
        _hits = meter.CreateCounter<long>(CacheInstruments.Hits, "{hit}", "Cache hits per level.");
        _misses = meter.CreateCounter<long>(CacheInstruments.Misses, "{miss}", "Cache misses per level.");
        _staleServed = meter.CreateCounter<long>(CacheInstruments.StaleServed, "{value}", "Stale values served by fail-safe.");
        _factoryCalls = meter.CreateCounter<long>(CacheInstruments.FactoryCalls, "{call}", "Factory runs.");
        _factoryErrors = meter.CreateCounter<long>(CacheInstruments.FactoryErrors, "{error}", "Factory runs that threw.");
        _factoryDuration = meter.CreateHistogram<double>(CacheInstruments.FactoryDuration, "s", "Factory duration.");
        _invalidations = meter.CreateCounter<long>(CacheInstruments.Invalidations, "{invalidation}", "Invalidations by kind.");
        _backplane = meter.CreateCounter<long>(CacheInstruments.BackplaneMessages, "{message}", "Backplane messages.");
        _corrupt = meter.CreateCounter<long>(CacheInstruments.CorruptEntries, "{entry}", "Entries that could not be decoded.");
        _rejected = meter.CreateCounter<long>(CacheInstruments.WritesRejected, "{write}", "Factory results dropped by the generation check.");
        _lockTimeouts = meter.CreateCounter<long>(CacheInstruments.LockTimeouts, "{wait}", "Waits for another instance's factory that timed out.");
        _eager = meter.CreateCounter<long>(CacheInstruments.EagerRefreshes, "{refresh}", "Eager background refreshes.");
    }

    public void Hit(KeyValuePair<string, object?> level) { if (_hits.Enabled) { _hits.Add(1, level); } }

    public void Miss(KeyValuePair<string, object?> level) { if (_misses.Enabled) { _misses.Add(1, level); } }

    public void StaleServed(KeyValuePair<string, object?> reason) { if (_staleServed.Enabled) { _staleServed.Add(1, reason); } }

    public void FactoryCall() => _factoryCalls.Add(1);

    public void FactoryError() => _factoryErrors.Add(1);

    public void FactoryDuration(TimeSpan elapsed) { if (_factoryDuration.Enabled) { _factoryDuration.Record(elapsed.TotalSeconds); } }

    public void Invalidation(KeyValuePair<string, object?> kind) { if (_invalidations.Enabled) { _invalidations.Add(1, kind); } }

    public void BackplaneMessage(KeyValuePair<string, object?> direction) { if (_backplane.Enabled) { _backplane.Add(1, direction); } }

    public void CorruptEntry() => _corrupt.Add(1);

    public void WriteRejected() => _rejected.Add(1);

    public void LockTimeout() => _lockTimeouts.Add(1);

    public void EagerRefresh() => _eager.Add(1);
}

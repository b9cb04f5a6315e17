using System.Diagnostics.Metrics;

namespace RedisKit;

/// <summary>Names of the instruments the locks publish on the <c>RedisKit</c> meter.</summary>
public static class RedisLockMetrics
{
    /// <summary>Acquire calls that ended, tagged <c>lock.kind</c> (lock, read, write, semaphore, redlock) and <c>result</c> (acquired, timeout, error).</summary>
    public const string Acquisitions = "rediskit.lock.acquisitions";

    /// <summary>Time from the acquire call to its result, in seconds, same tags as <see cref="Acquisitions"/>.</summary>
    public const string AcquireDuration = "rediskit.lock.acquire.duration";

    /// <summary>Time a lock was held, from acquisition to release or loss, in seconds, tagged <c>lock.kind</c>.</summary>
    public const string HoldDuration = "rediskit.lock.hold.duration";

    /// <summary>Held locks that were lost (stolen, expired, or not extended in time), tagged <c>lock.kind</c>.</summary>
    public const string Lost = "rediskit.lock.lost";

    /// <summary>
    /// Releases whose reply arrived, tagged <c>lock.kind</c> and <c>result</c>: <c>released</c>, <c>not_owned</c> (the lock
    /// had already expired or been taken over; nothing was deleted), or <c>error</c> (Redis failed or did not answer;
    /// the lock expires by itself).
    /// </summary>
    public const string Releases = "rediskit.lock.releases";

    /// <summary>Extensions, tagged <c>lock.kind</c> and <c>result</c> (extended, lost, error).</summary>
    public const string Extensions = "rediskit.lock.extensions";
}

/// <summary>The lock instruments, created from the injected meter factory.</summary>
internal sealed class LockingMetrics
{
    private readonly Counter<long> _acquisitions;
    private readonly Histogram<double> _acquireDuration;
    private readonly Histogram<double> _holdDuration;
    private readonly Counter<long> _lost;
    private readonly Counter<long> _extensions;
    private readonly Counter<long> _releases;

    public LockingMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(RedisKitDiagnostics.MeterName);
        _acquisitions = meter.CreateCounter<long>(RedisLockMetrics.Acquisitions, "{acquisition}", "Lock acquire calls that ended.");
        _acquireDuration = meter.CreateHistogram<double>(RedisLockMetrics.AcquireDuration, "s", "Time from an acquire call to its result.");
        _holdDuration = meter.CreateHistogram<double>(RedisLockMetrics.HoldDuration, "s", "Time a lock was held.");
        _lost = meter.CreateCounter<long>(RedisLockMetrics.Lost, "{lock}", "Held locks that were lost.");
        _extensions = meter.CreateCounter<long>(RedisLockMetrics.Extensions, "{extension}", "Lock extensions.");
        _releases = meter.CreateCounter<long>(RedisLockMetrics.Releases, "{release}", "Lock releases whose reply arrived.");
    }

    /// <summary>Metrics that record nothing (for providers built without DI).</summary>
    public static LockingMetrics None { get; } = new(new NullMeterFactory());

    public void Acquired(string kind, string result, TimeSpan elapsed)
    {
        if (_acquisitions.Enabled)
        {
            _acquisitions.Add(1, new("lock.kind", kind), new("result", result));
        }

        if (_acquireDuration.Enabled)
        {
            _acquireDuration.Record(elapsed.TotalSeconds, new("lock.kind", kind), new("result", result));
        }
    }

    public void Held(string kind, TimeSpan elapsed)
    {
        if (_holdDuration.Enabled)
        {
            _holdDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("lock.kind", kind));
        }
    }

    public void LockLost(string kind)
    {
        if (_lost.Enabled)
        {
            _lost.Add(1, new KeyValuePair<string, object?>("lock.kind", kind));
        }
    }

    public void Extended(string kind, string result)
    {
        if (_extensions.Enabled)
        {
            _extensions.Add(1, new("lock.kind", kind), new("result", result));
        }
    }

    public void Released(string kind, string result)
    {
        if (_releases.Enabled)
        {
            _releases.Add(1, new("lock.kind", kind), new("result", result));
        }
    }

    private sealed class NullMeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options.Name + ".unused");

        public void Dispose()
        {
        }
    }
}

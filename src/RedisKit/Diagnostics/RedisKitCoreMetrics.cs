using System.Diagnostics.Metrics;

namespace RedisKit;

/// <summary>Instruments of the shared layer (scripts). Capabilities create their own from the same meter.</summary>
internal sealed class RedisKitCoreMetrics : IDisposable
{
    private readonly Counter<long> _scriptReloads;

    public RedisKitCoreMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(RedisKitDiagnostics.MeterName);
        _scriptReloads = meter.CreateCounter<long>(RedisKitDiagnostics.ScriptReloads, unit: "{script}", description: "Scripts re-sent with EVAL after a server answered NOSCRIPT.");

        // RedisScript is a plain value with no DI; it reports reloads through a process-wide event.
        RedisScript.Reloaded += OnReloaded;
    }

    private void OnReloaded(RedisScript script)
    {
        if (_scriptReloads.Enabled)
        {
            _scriptReloads.Add(1, new KeyValuePair<string, object?>("script", script.Name));
        }
    }

    public void Dispose() => RedisScript.Reloaded -= OnReloaded;
}

using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace RedisKit.Testing;

/// <summary>One log event kept by <see cref="CapturingLoggerProvider"/>.</summary>
/// <param name="Category">The logger's category.</param>
/// <param name="EventId">The event id.</param>
/// <param name="Level">The level.</param>
/// <param name="Message">The formatted message.</param>
/// <param name="State">The structured values as <c>name=value</c> pairs joined by <c>;</c>.</param>
/// <param name="Exception">The exception, if any.</param>
public sealed record CapturedLog(string Category, EventId EventId, LogLevel Level, string Message, string State, Exception? Exception)
{
    /// <summary>Everything in one searchable line: <c>category|event id|message|state|exception</c>.</summary>
    public override string ToString() => $"{Category}|{EventId.Id}|{Message}|{State}|{Exception}";
}

/// <summary>
/// A logger provider that keeps every event at every level, for tests that assert what was (or was never)
/// logged: an event id, or that a secret such as a session id appears in no line.
/// </summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();

    /// <summary>The events, oldest first.</summary>
    public IReadOnlyCollection<CapturedLog> Entries => _entries;

    /// <summary>The events as lines (<see cref="CapturedLog.ToString"/>), oldest first.</summary>
    public IReadOnlyList<string> Lines => _entries.Select(e => e.ToString()).ToList();

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(";", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            owner._entries.Enqueue(new CapturedLog(category, eventId, logLevel, formatter(state, exception), values, exception));
        }
    }
}

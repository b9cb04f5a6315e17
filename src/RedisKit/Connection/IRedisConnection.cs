using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// The one shared connection of an application: a StackExchange.Redis multiplexer, the key convention
/// and the server's capabilities. Every RedisKit capability goes through it.
/// </summary>
public interface IRedisConnection
{
    /// <summary>The key convention (<c>{prefix}:{capability}:…</c>).</summary>
    KeyBuilder Keys { get; }

    /// <summary>
    /// The multiplexer, connecting on first use. Completes synchronously once connected. With
    /// <c>AbortOnConnectFail=false</c> a server that is down does not fail this call: commands fail
    /// (and the multiplexer keeps reconnecting) until it is back.
    /// </summary>
    ValueTask<IConnectionMultiplexer> GetMultiplexerAsync(CancellationToken cancellationToken = default);

    /// <summary>The default database of the multiplexer (see <see cref="GetMultiplexerAsync"/>).</summary>
    ValueTask<IDatabase> GetDatabaseAsync(CancellationToken cancellationToken = default);

    /// <summary>The capabilities found by the last successful probe, or <see langword="null"/> before the first one.</summary>
    RedisCapabilities? Capabilities { get; }

    /// <summary>
    /// The server's capabilities: the cached probe, or a new probe (one INFO and one COMMAND INFO round
    /// trip) when none has succeeded yet.
    /// </summary>
    /// <exception cref="RedisConnectionException">The server could not be reached to probe it.</exception>
    ValueTask<RedisCapabilities> GetCapabilitiesAsync(CancellationToken cancellationToken = default);
}

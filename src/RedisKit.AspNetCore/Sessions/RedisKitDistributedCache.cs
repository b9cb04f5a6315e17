using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace RedisKit.AspNetCore;

/// <summary>
/// <see cref="IDistributedCache"/> on RedisKit's shared connection, so ASP.NET Core's <c>UseSession()</c>
/// (and anything else written against the abstraction) runs on the same multiplexer and key prefix.
/// Each entry is a hash (value, sliding ms, absolute deadline); get and refresh are one script (one
/// round trip) that slides the expiry on the server clock, never beyond the absolute deadline. Keys:
/// <c>{prefix}:session:cache:{key}</c>. When Redis is down the calls throw the client's
/// <see cref="RedisConnectionException"/> / <see cref="RedisTimeoutException"/>, as Microsoft's RedisCache does.
/// </summary>
public sealed class RedisKitDistributedCache : IDistributedCache
{
    private static readonly RedisScript GetScript = RedisScript.FromResource("session-cache-get");
    private static readonly RedisScript SetScript = RedisScript.FromResource("session-cache-set");
    private static readonly RedisValue[] ReturnValue = ["1"];
    private static readonly RedisValue[] RefreshOnly = ["0"];
    private readonly IRedisConnection _connection;

    /// <summary>Creates the cache on <paramref name="connection"/>.</summary>
    public RedisKitDistributedCache(IRedisConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
    }

    /// <summary>Gets the value and slides its expiry (one round trip). Blocks the calling thread; prefer <see cref="GetAsync"/>.</summary>
    public byte[]? Get(string key) => (byte[]?)Database().ScriptEvaluate(GetScript.Source, [Key(key)], ReturnValue);

    /// <summary>Gets the value and slides its expiry (one round trip).</summary>
    public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        token.ThrowIfCancellationRequested();
        var database = await _connection.GetDatabaseAsync(token).ConfigureAwait(false);
        return (byte[]?)await GetScript.EvaluateAsync(database, [Key(key)], ReturnValue).ConfigureAwait(false);
    }

    /// <summary>Slides the expiry without reading the value (one round trip). Blocks the calling thread.</summary>
    public void Refresh(string key) => Database().ScriptEvaluate(GetScript.Source, [Key(key)], RefreshOnly);

    /// <summary>Slides the expiry without reading the value (one round trip).</summary>
    public async Task RefreshAsync(string key, CancellationToken token = default)
    {
        token.ThrowIfCancellationRequested();
        var database = await _connection.GetDatabaseAsync(token).ConfigureAwait(false);
        await GetScript.EvaluateAsync(database, [Key(key)], RefreshOnly).ConfigureAwait(false);
    }

    /// <summary>Removes the entry (one round trip). Blocks the calling thread.</summary>
    public void Remove(string key) => Database().KeyDelete(Key(key));

    /// <summary>Removes the entry (one round trip).</summary>
    public async Task RemoveAsync(string key, CancellationToken token = default)
    {
        token.ThrowIfCancellationRequested();
        var database = await _connection.GetDatabaseAsync(token).ConfigureAwait(false);
        await database.KeyDeleteAsync(Key(key)).ConfigureAwait(false);
    }

    /// <summary>Stores the value with its expirations (one round trip). Blocks the calling thread.</summary>
    public void Set(string key, byte[] value, DistributedCacheEntryOptions options) =>
        Database().ScriptEvaluate(SetScript.Source, [Key(key)], SetArguments(value, options));

    /// <summary>Stores the value with its expirations (one round trip). Relative expirations use the server clock.</summary>
    public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        token.ThrowIfCancellationRequested();
        var database = await _connection.GetDatabaseAsync(token).ConfigureAwait(false);
        await SetScript.EvaluateAsync(database, [Key(key)], SetArguments(value, options)).ConfigureAwait(false);
    }

    private IDatabase Database() => _connection.GetDatabaseAsync().AsTask().GetAwaiter().GetResult();

    private RedisKey Key(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _connection.Keys.Key(RedisSessionStore.Capability, "cache", key);
    }

    private static RedisValue[] SetArguments(byte[] value, DistributedCacheEntryOptions options)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(options);
        var sliding = (long)(options.SlidingExpiration?.TotalMilliseconds ?? 0);
        var absolute = options.AbsoluteExpiration?.ToUnixTimeMilliseconds() ?? 0;
        var relative = (long)(options.AbsoluteExpirationRelativeToNow?.TotalMilliseconds ?? 0);
        return [value, sliding, absolute, relative];
    }
}

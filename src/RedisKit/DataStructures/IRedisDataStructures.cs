using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;

namespace RedisKit.DataStructures;

/// <summary>
/// Typed helpers over Redis data structures: objects stored as hashes with partial updates
/// (<see cref="RedisHash{T}"/>) and capped most-recent-first lists (<see cref="RecentList"/>).
/// Registered by <c>AddDataStructures()</c> as a singleton.
/// </summary>
public interface IRedisDataStructures
{
    /// <summary>
    /// Objects of type <typeparamref name="T"/> stored one per hash under <c>{prefix}:hash:{name}:{id}</c>,
    /// one field per property. No round trip.
    /// </summary>
    RedisHash<T> Hash<T>(string name)
        where T : class;

    /// <summary>Capped lists under <c>{prefix}:recent:{name}:{owner}</c>. No round trip.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    RecentList RecentList(string name, RecentListOptions options);
}

/// <summary>The default <see cref="IRedisDataStructures"/>.</summary>
internal sealed class RedisDataStructures : IRedisDataStructures
{
    private readonly IRedisConnection _connection;
    private readonly JsonSerializerOptions _json;
    private readonly ILogger _logger;

    public RedisDataStructures(IRedisConnection connection, IRedisSerializer serializer, ILogger<RedisDataStructures> logger)
    {
        _connection = connection;
        _logger = logger;

        // Hash fields use the application's JSON options when its serializer is System.Text.Json
        // (so a source-generated context covers them too), else web defaults.
        _json = serializer is SystemTextJsonRedisSerializer stj
            ? stj.Options
            : new JsonSerializerOptions(JsonSerializerDefaults.Web) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
    }

    public RedisHash<T> Hash<T>(string name)
        where T : class
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new RedisHash<T>(_connection, name, _json, _logger);
    }

    public RecentList RecentList(string name, RecentListOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Capacity, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Capacity, RecentListOptions.MaxCapacity, nameof(options));
        if (options.Expiry is { } expiry && expiry <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), expiry, "RecentListOptions.Expiry must be positive.");
        }

        return new RecentList(_connection, name, options.Capacity, options.Deduplicate, options.Expiry);
    }
}

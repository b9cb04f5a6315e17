using StackExchange.Redis;

namespace RedisKit.DataStructures;

/// <summary>Settings of a <see cref="RecentList"/>.</summary>
public sealed class RecentListOptions
{
    /// <summary>The largest capacity accepted.</summary>
    public const int MaxCapacity = 100_000;

    /// <summary>How many items each list keeps (1 to <see cref="MaxCapacity"/>; default 10).</summary>
    public int Capacity { get; set; } = 10;

    /// <summary>Whether pushing an item already in the list moves it to the front instead of adding a copy (default true).</summary>
    public bool Deduplicate { get; set; } = true;

    /// <summary>How long a list lives after its last push; null (default) keeps it.</summary>
    public TimeSpan? Expiry { get; set; }
}

/// <summary>
/// "Recently viewed"-style lists, most recent first, capped at a fixed length, one list per owner
/// (e.g. per user). Every call is one round trip. When Redis is down calls throw StackExchange.Redis's
/// <see cref="RedisConnectionException"/> (or <see cref="RedisTimeoutException"/>).
/// </summary>
public sealed class RecentList
{
    private static readonly RedisScript PushScript = RedisScript.FromResource("datastructures-recent-push");
    private readonly IRedisConnection _connection;
    private readonly string _name;
    private readonly long _ttl;

    internal RecentList(IRedisConnection connection, string name, int capacity, bool deduplicate, TimeSpan? expiry)
    {
        _connection = connection;
        _name = name;
        Capacity = capacity;
        Deduplicate = deduplicate;
        _ttl = expiry is { } e ? (long)Math.Ceiling(e.TotalMilliseconds) : 0;
    }

    /// <summary>How many items each list keeps.</summary>
    public int Capacity { get; }

    /// <summary>Whether a pushed item already present is moved to the front.</summary>
    public bool Deduplicate { get; }

    /// <summary>
    /// Puts <paramref name="item"/> at the front of <paramref name="owner"/>'s list (removing an earlier copy
    /// when de-duplicating), trims the list to <see cref="Capacity"/> and refreshes its expiry: LREM + LPUSH +
    /// LTRIM + PEXPIRE in one script, one round trip.
    /// </summary>
    /// <returns>The list's length afterwards.</returns>
    public async Task<long> PushAsync(string owner, string item, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(item);
        var key = Key(owner);
        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = await PushScript.EvaluateAsync(db, [key], [item, Capacity, Deduplicate ? "1" : "0", _ttl])
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        return (long)result;
    }

    /// <summary>The newest <paramref name="count"/> items (all when 0), most recent first. One round trip (LRANGE).</summary>
    public async Task<IReadOnlyList<string>> GetAsync(string owner, int count = 0, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var key = Key(owner);
        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var items = await db.ListRangeAsync(key, 0, count == 0 ? -1 : count - 1).WaitAsync(cancellationToken).ConfigureAwait(false);
        return Array.ConvertAll(items, static i => (string)i!);
    }

    /// <summary>Removes every copy of <paramref name="item"/>. One round trip (LREM).</summary>
    /// <returns>Whether the item was in the list.</returns>
    public async Task<bool> RemoveAsync(string owner, string item, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(item);
        var key = Key(owner);
        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return await db.ListRemoveAsync(key, item).WaitAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    /// <summary>Deletes <paramref name="owner"/>'s list. One round trip (DEL).</summary>
    public async Task<bool> ClearAsync(string owner, CancellationToken cancellationToken = default)
    {
        var key = Key(owner);
        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return await db.KeyDeleteAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private RedisKey Key(string owner)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        return _connection.Keys.Key("recent", _name, owner);
    }
}

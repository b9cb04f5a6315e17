using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RedisKit.DataStructures;

/// <summary>
/// Objects stored as Redis hashes, one field per property, so that a partial update writes only the
/// fields that changed (HSET of those fields, HDEL of cleared ones) and concurrent updates of different
/// fields do not overwrite each other.
/// <para>
/// Mapping: System.Text.Json, per field. The property list, field names (the naming policy,
/// <c>[JsonPropertyName]</c>, <c>[JsonIgnore]</c>) and value conversions come from the
/// <see cref="JsonTypeInfo"/> of the application's JSON options (a source-generated context works).
/// A <see cref="string"/> property is stored as its raw text; any other property as its JSON text
/// (numbers as <c>42</c>, so HINCRBY works on them; nested objects as JSON). A null property is an absent field.
/// </para>
/// Every call is one round trip. When Redis is down calls throw StackExchange.Redis's
/// <see cref="RedisConnectionException"/> (or <see cref="RedisTimeoutException"/>).
/// </summary>
/// <typeparam name="T">The stored type.</typeparam>
public sealed class RedisHash<T>
    where T : class
{
    private static readonly RedisScript UpdateScript = RedisScript.FromResource("datastructures-hash-update");
    private static readonly RedisScript ReplaceScript = RedisScript.FromResource("datastructures-hash-replace");
    private readonly IRedisConnection _connection;
    private readonly string _name;
    private readonly JsonSerializerOptions _json;
    private readonly ILogger _logger;
    private readonly JsonTypeInfo<T> _typeInfo;
    private readonly Dictionary<string, JsonPropertyInfo> _byField;
    private readonly Dictionary<string, JsonPropertyInfo> _byMember;

    internal RedisHash(IRedisConnection connection, string name, JsonSerializerOptions json, ILogger logger)
    {
        _connection = connection;
        _name = name;
        _json = json;
        _logger = logger;
        _typeInfo = (JsonTypeInfo<T>)json.GetTypeInfo(typeof(T));
        if (_typeInfo.Kind != JsonTypeInfoKind.Object)
        {
            throw new ArgumentException($"{typeof(T).Name} is not stored as a JSON object, so it cannot be mapped to hash fields.", nameof(T));
        }

        _byField = new Dictionary<string, JsonPropertyInfo>(StringComparer.Ordinal);
        _byMember = new Dictionary<string, JsonPropertyInfo>(StringComparer.Ordinal);
        foreach (var property in _typeInfo.Properties)
        {
            // [JsonIgnore] properties stay in the contract (never serialized): they have no field.
            if (property.AttributeProvider?.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonIgnoreAttribute), inherit: true)
                    .OfType<System.Text.Json.Serialization.JsonIgnoreAttribute>()
                    .Any(a => a.Condition == System.Text.Json.Serialization.JsonIgnoreCondition.Always) == true)
            {
                continue;
            }

            _byField[property.Name] = property;
            if (property.AttributeProvider is MemberInfo member)
            {
                _byMember[member.Name] = property;
            }
        }
    }

    /// <summary>The hash group name (part of the keys).</summary>
    public string Name => _name;

    /// <summary>
    /// Replaces the whole object: DEL, HSET of every non-null property and optional PEXPIRE, in one script
    /// (one round trip).
    /// </summary>
    public async Task SetAsync(string id, T value, TimeSpan? expiry = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (expiry is { } e && e <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(expiry), expiry, "The expiry must be positive.");
        }

        var key = Key(id);
        var node = JsonSerializer.SerializeToNode(value, _typeInfo) as JsonObject
            ?? throw new ArgumentException($"{typeof(T).Name} did not serialize to a JSON object.", nameof(value));
        var values = new List<RedisValue>(1 + (node.Count * 2)) { expiry is { } t ? (long)Math.Ceiling(t.TotalMilliseconds) : 0 };
        foreach (var (field, fieldNode) in node)
        {
            if (fieldNode is not null && _byField.TryGetValue(field, out var property))
            {
                values.Add(field);
                values.Add(Encode(fieldNode, property));
            }
        }

        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        await ReplaceScript.EvaluateAsync(db, [key], [.. values]).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the object back (HGETALL, one round trip), or null when there is none. A hash whose fields no
    /// longer read back as <typeparamref name="T"/> is a miss: it is logged (event 7010) and left in place,
    /// because a hash is often the only copy of its data and its other fields are still good.
    /// </summary>
    public async Task<T?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        var key = Key(id);
        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var fields = await db.HashGetAllAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (fields.Length == 0)
        {
            return null;
        }

        try
        {
            var node = new JsonObject();
            foreach (var field in fields)
            {
                var name = (string)field.Name!;
                if (_byField.TryGetValue(name, out var property))
                {
                    node[name] = Decode(field.Value, property);
                }
            }

            return node.Deserialize(_typeInfo);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or NotSupportedException)
        {
            DataStructuresLog.HashCorrupt(_logger, _name, typeof(T).Name, ex);
            return null;
        }
    }

    /// <summary>Reads one property (HGET, one round trip); default when the hash or field is absent.</summary>
    public async Task<TField?> GetFieldAsync<TField>(string id, Expression<Func<T, TField>> property, CancellationToken cancellationToken = default)
    {
        var info = Property(property);
        var key = Key(id);
        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var raw = await db.HashGetAsync(key, info.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (raw.IsNull)
        {
            return default;
        }

        return (TField?)Decode(raw, info).Deserialize(info.PropertyType, _json);
    }

    /// <summary>
    /// Writes only the properties set in <paramref name="update"/> (HSET; a null value or
    /// <see cref="HashUpdate{T}.Remove{TField}"/> deletes the field with HDEL), leaving every other field as
    /// it is, in one script (one round trip). The hash's expiry is kept. A missing hash is created with
    /// just these fields.
    /// </summary>
    /// <returns>How many fields were written or removed.</returns>
    public Task<long> UpdateAsync(string id, Action<HashUpdate<T>> update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        var changes = new HashUpdate<T>(this);
        update(changes);
        return ApplyAsync(id, changes.Sets, changes.Removes, cancellationToken);
    }

    /// <summary>
    /// Writes only the properties whose values differ between <paramref name="original"/> and
    /// <paramref name="current"/> (compared as JSON), in one script (one round trip); nothing is sent when
    /// nothing changed. Typical use: read, modify, save the difference.
    /// </summary>
    /// <returns>How many fields were written or removed.</returns>
    public Task<long> UpdateAsync(string id, T original, T current, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(current);
        var before = JsonSerializer.SerializeToNode(original, _typeInfo) as JsonObject ?? [];
        var after = JsonSerializer.SerializeToNode(current, _typeInfo) as JsonObject ?? [];
        var sets = new List<(string, RedisValue)>();
        var removes = new List<string>();
        foreach (var property in _byField.Values)
        {
            var a = before[property.Name];
            var b = after[property.Name];
            if (JsonNode.DeepEquals(a, b))
            {
                continue;
            }

            if (b is null)
            {
                removes.Add(property.Name);
            }
            else
            {
                sets.Add((property.Name, Encode(b, property)));
            }
        }

        if (sets.Count == 0 && removes.Count == 0)
        {
            _ = Key(id);
            return Task.FromResult(0L);
        }

        return ApplyAsync(id, sets, removes, cancellationToken);
    }

    /// <summary>Adds <paramref name="delta"/> to a whole-number property (HINCRBY, one round trip) and returns the new value.</summary>
    public Task<long> IncrementAsync(string id, Expression<Func<T, long>> property, long delta = 1, CancellationToken cancellationToken = default) =>
        IncrementCoreAsync(id, Property(property), delta, cancellationToken);

    /// <summary>Adds <paramref name="delta"/> to a whole-number property (HINCRBY, one round trip) and returns the new value.</summary>
    public Task<long> IncrementAsync(string id, Expression<Func<T, int>> property, long delta = 1, CancellationToken cancellationToken = default) =>
        IncrementCoreAsync(id, Property(property), delta, cancellationToken);

    /// <summary>Deletes the object (DEL, one round trip). Returns whether it existed.</summary>
    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        var key = Key(id);
        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return await db.KeyDeleteAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    internal JsonPropertyInfo Property(LambdaExpression property)
    {
        ArgumentNullException.ThrowIfNull(property);
        var body = property.Body;
        while (body is UnaryExpression { NodeType: ExpressionType.Convert or ExpressionType.ConvertChecked } convert)
        {
            body = convert.Operand;
        }

        if (body is not MemberExpression { Expression: ParameterExpression } member)
        {
            throw new ArgumentException("Pass a property of the stored type, such as x => x.Email.", nameof(property));
        }

        return _byMember.TryGetValue(member.Member.Name, out var info)
            ? info
            : throw new ArgumentException($"{typeof(T).Name}.{member.Member.Name} is not serialized (ignored or not a JSON property), so it has no hash field.", nameof(property));
    }

    internal RedisValue Encode(JsonNode node, JsonPropertyInfo property) =>
        property.PropertyType == typeof(string) && node is JsonValue value && value.TryGetValue<string>(out var text)
            ? text
            : node.ToJsonString(_json);

    internal RedisValue EncodeValue(object? value, JsonPropertyInfo property) =>
        JsonSerializer.SerializeToNode(value, property.PropertyType, _json) is { } node ? Encode(node, property) : RedisValue.Null;

    private static JsonNode? Decode(RedisValue raw, JsonPropertyInfo property) =>
        property.PropertyType == typeof(string) ? JsonValue.Create((string?)raw) : JsonNode.Parse((string)raw!);

    private async Task<long> IncrementCoreAsync(string id, JsonPropertyInfo property, long delta, CancellationToken cancellationToken)
    {
        var key = Key(id);
        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return await db.HashIncrementAsync(key, property.Name, delta).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<long> ApplyAsync(string id, List<(string Field, RedisValue Value)> sets, List<string> removes, CancellationToken cancellationToken)
    {
        var key = Key(id);
        if (sets.Count == 0 && removes.Count == 0)
        {
            return 0;
        }

        var values = new RedisValue[1 + removes.Count + (sets.Count * 2)];
        values[0] = removes.Count;
        var i = 1;
        foreach (var field in removes)
        {
            values[i++] = field;
        }

        foreach (var (field, value) in sets)
        {
            values[i++] = field;
            values[i++] = value;
        }

        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return (long)await UpdateScript.EvaluateAsync(db, [key], values).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private RedisKey Key(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return _connection.Keys.Key("hash", _name, id);
    }
}

/// <summary>The properties a partial update writes; built by the callback of <see cref="RedisHash{T}.UpdateAsync(string, Action{HashUpdate{T}}, CancellationToken)"/>.</summary>
/// <typeparam name="T">The stored type.</typeparam>
public sealed class HashUpdate<T>
    where T : class
{
    private readonly RedisHash<T> _hash;

    internal HashUpdate(RedisHash<T> hash) => _hash = hash;

    internal List<(string Field, RedisValue Value)> Sets { get; } = [];

    internal List<string> Removes { get; } = [];

    /// <summary>Writes <paramref name="value"/> to the property's field (a null value removes the field).</summary>
    public HashUpdate<T> Set<TField>(Expression<Func<T, TField>> property, TField value)
    {
        var info = _hash.Property(property);
        var encoded = _hash.EncodeValue(value, info);
        if (encoded.IsNull)
        {
            Removes.Add(info.Name);
        }
        else
        {
            Sets.Add((info.Name, encoded));
        }

        return this;
    }

    /// <summary>Removes the property's field (it reads back as the property's default).</summary>
    public HashUpdate<T> Remove<TField>(Expression<Func<T, TField>> property)
    {
        Removes.Add(_hash.Property(property).Name);
        return this;
    }
}

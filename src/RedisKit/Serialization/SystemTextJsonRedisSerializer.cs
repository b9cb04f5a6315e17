using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace RedisKit;

/// <summary>
/// JSON via System.Text.Json (web defaults: camelCase). Source-generated contexts work: pass options
/// whose <see cref="JsonSerializerOptions.TypeInfoResolver"/> is your <c>JsonSerializerContext</c>
/// (or a chain of them) and no reflection is used for the types they cover.
/// </summary>
public sealed class SystemTextJsonRedisSerializer : IRedisSerializer
{
    /// <summary>The serializer with <see cref="JsonSerializerDefaults.Web"/> options.</summary>
    public static SystemTextJsonRedisSerializer Default { get; } = new();

    private readonly JsonSerializerOptions _options;

    /// <summary>Creates a serializer; <paramref name="options"/> default to <see cref="JsonSerializerDefaults.Web"/>.</summary>
    public SystemTextJsonRedisSerializer(JsonSerializerOptions? options = null)
    {
        _options = options is null
            ? new JsonSerializerOptions(JsonSerializerDefaults.Web) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() }
            : new JsonSerializerOptions(options);
        _options.TypeInfoResolver ??= new DefaultJsonTypeInfoResolver();
        _options.MakeReadOnly();
    }

    /// <summary>The options in use (read-only).</summary>
    public JsonSerializerOptions Options => _options;

    /// <inheritdoc />
    public byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, TypeInfo<T>());

    /// <inheritdoc />
    public T? Deserialize<T>(ReadOnlySpan<byte> data)
    {
        try
        {
            return JsonSerializer.Deserialize(data, TypeInfo<T>());
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new RedisSerializationException(typeof(T), data.Length, ex);
        }
    }

    private JsonTypeInfo<T> TypeInfo<T>() => (JsonTypeInfo<T>)_options.GetTypeInfo(typeof(T));
}

namespace RedisKit;

/// <summary>
/// Turns values into the bytes stored in Redis and back. The default is
/// <see cref="SystemTextJsonRedisSerializer"/>; register another with
/// <c>AddRedisKit().UseSerializer(…)</c>.
/// </summary>
public interface IRedisSerializer
{
    /// <summary>Serializes <paramref name="value"/> into a new array the caller owns.</summary>
    byte[] Serialize<T>(T value);

    /// <summary>Reads a <typeparamref name="T"/> back.</summary>
    /// <exception cref="RedisSerializationException">The bytes are not a valid <typeparamref name="T"/>. Callers treat it as a miss.</exception>
    T? Deserialize<T>(ReadOnlySpan<byte> data);
}

/// <summary>
/// Stored bytes could not be read back as the requested type: corrupted, truncated, or written by an
/// incompatible version. RedisKit capabilities log it, remove the entry and treat it as a miss.
/// </summary>
public sealed class RedisSerializationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RedisSerializationException(Type targetType, int length, Exception? innerException)
        : base($"Could not deserialize {length} bytes as {targetType.Name}: {innerException?.Message}", innerException)
    {
        TargetType = targetType;
        Length = length;
    }

    /// <summary>The type the caller asked for.</summary>
    public Type TargetType { get; }

    /// <summary>How many bytes were read.</summary>
    public int Length { get; }
}

using System.Buffers.Binary;
using System.Text;

namespace RedisKit;

/// <summary>A tag and the invalidation generation it had when the entry was written.</summary>
internal readonly record struct TagStamp(string Tag, long Generation);

/// <summary>
/// The bytes stored in Redis for one entry: a small header, then the serialized value.
/// <code>
/// [0]      version (0xC1)
/// [1..8]   logical expiry, unix ms, little-endian (patched in place by cache-expire.lua)
/// [9..16]  written at, unix ms
/// [17]     flags (1 = negative "not found" entry)
/// [18..19] tag count, then per tag: u16 length, UTF-8 bytes, i64 generation
/// [...]    payload (IRedisSerializer)
/// </code>
/// Logical expiry is the writer's clock (TimeProvider); the physical Redis TTL adds the fail-safe window.
/// </summary>
internal static class CacheEnvelope
{
    public const byte Version = 0xC1;
    public const int ExpiryOffset = 1;
    public const int HeaderLength = 20;
    private const byte NegativeFlag = 1;

    public static byte[] Write(ReadOnlySpan<byte> payload, long expiresAtMs, long writtenAtMs, bool negative, IReadOnlyList<TagStamp> tags)
    {
        var tagBytes = 0;
        foreach (var tag in tags)
        {
            tagBytes += 2 + Encoding.UTF8.GetByteCount(tag.Tag) + 8;
        }

        var buffer = new byte[HeaderLength + tagBytes + payload.Length];
        buffer[0] = Version;
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(1), expiresAtMs);
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(9), writtenAtMs);
        buffer[17] = negative ? NegativeFlag : (byte)0;
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(18), checked((ushort)tags.Count));
        var position = HeaderLength;
        foreach (var tag in tags)
        {
            var length = Encoding.UTF8.GetBytes(tag.Tag, buffer.AsSpan(position + 2));
            BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(position), checked((ushort)length));
            position += 2 + length;
            BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(position), tag.Generation);
            position += 8;
        }

        payload.CopyTo(buffer.AsSpan(position));
        return buffer;
    }

    /// <summary>Reads the header; false when the bytes are not an envelope (corrupt, truncated or foreign).</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out long expiresAtMs, out long writtenAtMs, out bool negative, out TagStamp[] tags, out int payloadOffset)
    {
        expiresAtMs = writtenAtMs = 0;
        negative = false;
        tags = [];
        payloadOffset = 0;
        if (data.Length < HeaderLength || data[0] != Version)
        {
            return false;
        }

        expiresAtMs = BinaryPrimitives.ReadInt64LittleEndian(data[1..]);
        writtenAtMs = BinaryPrimitives.ReadInt64LittleEndian(data[9..]);
        negative = (data[17] & NegativeFlag) != 0;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(data[18..]);
        var position = HeaderLength;
        if (count > 0)
        {
            tags = new TagStamp[count];
            for (var i = 0; i < count; i++)
            {
                if (position + 2 > data.Length)
                {
                    return false;
                }

                int length = BinaryPrimitives.ReadUInt16LittleEndian(data[position..]);
                position += 2;
                if (position + length + 8 > data.Length)
                {
                    return false;
                }

                var tag = Encoding.UTF8.GetString(data.Slice(position, length));
                position += length;
                tags[i] = new TagStamp(tag, BinaryPrimitives.ReadInt64LittleEndian(data[position..]));
                position += 8;
            }
        }

        payloadOffset = position;
        return true;
    }

    public static byte[] EncodeExpiry(long expiresAtMs)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, expiresAtMs);
        return bytes;
    }
}

using System.Buffers;
using System.Text;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// Builds every key RedisKit writes: <c>{prefix}:{capability}:{segment}:…</c>. Segments are user
/// input, so they are made unambiguous (<c>%</c>, <c>:</c>, <c>{</c>, <c>}</c> are percent-encoded:
/// <c>("a:b","c")</c> and <c>("a","b:c")</c> never meet, and user text cannot choose a hash slot)
/// and the finished key is length-checked. Thread-safe and allocation-light.
/// </summary>
public sealed class KeyBuilder
{
    private static readonly SearchValues<char> SegmentSpecials = SearchValues.Create("%:{}");
    private static readonly SearchValues<char> GlobSpecials = SearchValues.Create("\\*?[]");

    /// <summary>Creates a builder for <paramref name="prefix"/>, rejecting keys longer than <paramref name="maxKeyLength"/> UTF-8 bytes.</summary>
    public KeyBuilder(string prefix, int maxKeyLength = 1024)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeyLength, 16);
        if (prefix.AsSpan().ContainsAny(SegmentSpecials) || prefix.AsSpan().ContainsAny(GlobSpecials))
        {
            throw new ArgumentException("The key prefix may not contain ':', '{', '}', '%' or glob characters.", nameof(prefix));
        }

        Prefix = prefix;
        MaxKeyLength = maxKeyLength;
    }

    /// <summary>The application prefix.</summary>
    public string Prefix { get; }

    /// <summary>The longest key accepted, in UTF-8 bytes.</summary>
    public int MaxKeyLength { get; }

    /// <summary><c>{prefix}:{capability}:{segment}</c>.</summary>
    public RedisKey Key(string capability, string segment) => Join(capability, tag: null, [segment]);

    /// <summary><c>{prefix}:{capability}:{s1}:{s2}</c>.</summary>
    public RedisKey Key(string capability, string segment1, string segment2) => Join(capability, tag: null, [segment1, segment2]);

    /// <summary><c>{prefix}:{capability}:{segments…}</c>.</summary>
    public RedisKey Key(string capability, params ReadOnlySpan<string> segments) => Join(capability, tag: null, segments);

    /// <summary>
    /// <c>{prefix}:{capability}:{{tag}}:{segments…}</c>: every key built with the same tag lands in the
    /// same cluster hash slot, so one script or MULTI may touch them all.
    /// </summary>
    public RedisKey TaggedKey(string capability, string tag, params ReadOnlySpan<string> segments) => Join(capability, tag, segments);

    /// <summary>
    /// A <c>SCAN MATCH</c> pattern for every key of <paramref name="capability"/> whose first segments are
    /// <paramref name="segments"/> and whose next segment starts with <paramref name="userPrefix"/>
    /// (glob-escaped: <c>*</c>, <c>?</c>, <c>[</c>, <c>]</c>, <c>\</c> in user input match only themselves).
    /// </summary>
    public string MatchPattern(string capability, string userPrefix, params ReadOnlySpan<string> segments)
    {
        ArgumentNullException.ThrowIfNull(userPrefix);
        var builder = new StringBuilder(Prefix.Length + capability.Length + userPrefix.Length + 16);
        builder.Append(EscapeGlob(Prefix)).Append(':').Append(EscapeGlob(capability)).Append(':');
        foreach (var segment in segments)
        {
            builder.Append(EscapeGlob(EncodeSegment(segment))).Append(':');
        }

        builder.Append(EscapeGlob(EncodeSegment(userPrefix))).Append('*');
        var pattern = builder.ToString();
        CheckLength(pattern, capability);
        return pattern;
    }

    /// <summary>Escapes <c>\ * ? [ ]</c> so that <paramref name="value"/> matches only itself in a Redis glob pattern.</summary>
    public static string EscapeGlob(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!value.AsSpan().ContainsAny(GlobSpecials))
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            if (GlobSpecials.Contains(c))
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    /// <summary>Makes one segment unambiguous: <c>%</c> → <c>%25</c>, <c>:</c> → <c>%3A</c>, <c>{</c> → <c>%7B</c>, <c>}</c> → <c>%7D</c>.</summary>
    public static string EncodeSegment(string segment)
    {
        ArgumentNullException.ThrowIfNull(segment);
        if (!segment.AsSpan().ContainsAny(SegmentSpecials))
        {
            return segment;
        }

        var builder = new StringBuilder(segment.Length + 8);
        foreach (var c in segment)
        {
            _ = c switch
            {
                '%' => builder.Append("%25"),
                ':' => builder.Append("%3A"),
                '{' => builder.Append("%7B"),
                '}' => builder.Append("%7D"),
                _ => builder.Append(c),
            };
        }

        return builder.ToString();
    }

    private RedisKey Join(string capability, string? tag, ReadOnlySpan<string> segments)
    {
        ArgumentException.ThrowIfNullOrEmpty(capability);
        var length = Prefix.Length + 1 + capability.Length;
        var needsEncoding = false;
        if (tag is not null)
        {
            length += tag.Length + 3;
            needsEncoding |= tag.AsSpan().ContainsAny(SegmentSpecials);
        }

        foreach (var segment in segments)
        {
            ArgumentNullException.ThrowIfNull(segment, nameof(segments));
            length += segment.Length + 1;
            needsEncoding |= segment.AsSpan().ContainsAny(SegmentSpecials);
        }

        string key;
        if (!needsEncoding)
        {
            // Fast path (the common case): no encoding, one allocation (the string itself).
            var buffer = length <= 512 ? stackalloc char[length] : new char[length];
            var position = 0;
            Write(buffer, ref position, Prefix);
            buffer[position++] = ':';
            Write(buffer, ref position, capability);
            if (tag is not null)
            {
                buffer[position++] = ':';
                buffer[position++] = '{';
                Write(buffer, ref position, tag);
                buffer[position++] = '}';
            }

            foreach (var segment in segments)
            {
                buffer[position++] = ':';
                Write(buffer, ref position, segment);
            }

            key = new string(buffer[..position]);
        }
        else
        {
            var builder = new StringBuilder(length + 16).Append(Prefix).Append(':').Append(capability);
            if (tag is not null)
            {
                builder.Append(":{").Append(EncodeSegment(tag)).Append('}');
            }

            foreach (var segment in segments)
            {
                builder.Append(':').Append(EncodeSegment(segment));
            }

            key = builder.ToString();
        }

        CheckLength(key, capability);
        return key;
    }

    private static void Write(Span<char> span, ref int position, string value)
    {
        value.AsSpan().CopyTo(span[position..]);
        position += value.Length;
    }

    private void CheckLength(string key, string capability)
    {
        // UTF-8 never takes more than 3 bytes per UTF-16 char, so short keys skip the count.
        if (key.Length * 3 > MaxKeyLength)
        {
            var bytes = Encoding.UTF8.GetByteCount(key);
            if (bytes > MaxKeyLength)
            {
                throw new RedisKeyTooLongException(capability, bytes, MaxKeyLength);
            }
        }
    }
}

/// <summary>
/// A key built from user input is longer than <see cref="RedisKitOptions.MaxKeyLength"/>. The message
/// names the capability and the sizes, never the key (it may hold a session id or personal data).
/// </summary>
public sealed class RedisKeyTooLongException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public RedisKeyTooLongException(string capability, int length, int maxLength)
        : base($"A {capability} key would be {length} bytes long; the limit is {maxLength} (RedisKit:MaxKeyLength).")
    {
        Capability = capability;
        Length = length;
        MaxLength = maxLength;
    }

    /// <summary>The capability that built the key.</summary>
    public string Capability { get; }

    /// <summary>The key's length in UTF-8 bytes.</summary>
    public int Length { get; }

    /// <summary>The configured limit.</summary>
    public int MaxLength { get; }
}

using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace RedisKit;

/// <summary>
/// Session ids: 24 bytes in base64url (32 characters, no padding). The first 18 bytes (144 bits) come
/// from a CSPRNG; the last 6 are the first bytes of SHA-256 of the user id, so every session of a user
/// (and the user's index) shares one cluster hash tag and one script can touch them all.
/// </summary>
public static class SessionId
{
    /// <summary>The length of every session id, in characters.</summary>
    public const int Length = 32;

    private const int RandomBytes = 18;
    private const int TagBytes = 6;
    private const int TagChars = 8;

    /// <summary>
    /// True when <paramref name="value"/> has the shape of a session id (32 base64url characters).
    /// Checked before any Redis call: a malformed id costs nothing and writes nothing.
    /// </summary>
    public static bool IsValid(ReadOnlySpan<char> value)
    {
        if (value.Length != Length)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A short, non-reversible reference to a session id for logs (8 hex characters of SHA-256); never log the id itself.</summary>
    public static string LogReference(string sessionId)
    {
        ArgumentNullException.ThrowIfNull(sessionId);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(sessionId), hash);
        return Convert.ToHexStringLower(hash[..4]);
    }

    internal static string New(string userId)
    {
        Span<byte> bytes = stackalloc byte[RandomBytes + TagBytes];
        RandomNumberGenerator.Fill(bytes[..RandomBytes]);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(userId), hash);
        hash[..TagBytes].CopyTo(bytes[RandomBytes..]);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Makes a new id for the same user (same tag) as <paramref name="sessionId"/>.</summary>
    internal static string NewSibling(string sessionId)
    {
        Span<byte> bytes = stackalloc byte[RandomBytes + TagBytes];
        _ = Base64Url.DecodeFromChars(sessionId, bytes);
        RandomNumberGenerator.Fill(bytes[..RandomBytes]);
        return Base64Url.EncodeToString(bytes);
    }

    internal static string UserTag(string userId)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(userId), hash);
        return Base64Url.EncodeToString(hash[..TagBytes]);
    }

    internal static string Tag(string sessionId) => sessionId[(Length - TagChars)..];
}

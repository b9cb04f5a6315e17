using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// The lock scripts with their SHA1 as bytes, so the hot path calls EVALSHA on the database directly
/// (one allocation less per call than going through <see cref="RedisScript.EvaluateAsync"/>); on NOSCRIPT
/// the caller falls back to <see cref="RedisScript.EvaluateAsync"/>, which reloads the script.
/// </summary>
internal sealed class LockScript
{
    public LockScript(string resource)
    {
        Script = RedisScript.FromResource(resource);
        Hash = Convert.FromHexString(Script.Sha1Hex);
    }

    public RedisScript Script { get; }

    public byte[] Hash { get; }

    public static bool IsNoScript(RedisServerException exception) => exception.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal);
}

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
        : this(RedisScript.FromResource(resource))
    {
    }

    public LockScript(RedisScript script)
    {
        Script = script;
        Hash = Convert.FromHexString(Script.Sha1Hex);
    }

    /// <summary>
    /// The exclusive lock's acquire-and-release script (lock-owner.lua) with <paramref name="channel"/> ('' = no
    /// notification) written into its text as a Lua string literal: one script (one SHA) per provider configuration,
    /// and one argument less per release.
    /// </summary>
    public static LockScript Owner(string channel)
    {
        var template = RedisScript.FromResource("lock-owner");
        var literal = new System.Text.StringBuilder(channel.Length + 8);
        foreach (var c in channel)
        {
            // Escape everything that could end or bend a single-quoted Lua string; \ddd is Lua's decimal byte escape.
            if (c is '\\' or '\'' || char.IsControl(c))
            {
                foreach (var b in System.Text.Encoding.UTF8.GetBytes(c.ToString()))
                {
                    literal.Append('\\').Append(((int)b).ToString("D3", System.Globalization.CultureInfo.InvariantCulture));
                }
            }
            else
            {
                literal.Append(c);
            }
        }

        var source = template.Source.Replace("__RELEASE_CHANNEL__", literal.ToString(), StringComparison.Ordinal);
        return new LockScript(new RedisScript(channel.Length == 0 ? "lock-owner" : "lock-owner-notify", source));
    }

    public RedisScript Script { get; }

    public byte[] Hash { get; }

    public static bool IsNoScript(RedisServerException exception) => exception.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal);
}

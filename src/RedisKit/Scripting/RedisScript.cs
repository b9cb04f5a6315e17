using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// A Lua script run by its SHA1 (<c>EVALSHA</c>: the body crosses the wire only once per server).
/// When a server answers <c>NOSCRIPT</c> (after <c>SCRIPT FLUSH</c>, a restart or a failover to a
/// replica that never saw it) the script is sent again with <c>EVAL</c>, which also caches it, and the
/// call succeeds. Works on every cluster node because routing follows the script's keys; a script
/// that touches several keys must keep them in one hash slot (<see cref="KeyBuilder.TaggedKey"/>).
/// </summary>
public sealed class RedisScript
{
    private static readonly ConcurrentDictionary<string, RedisScript> Embedded = new(StringComparer.Ordinal);
    private readonly byte[] _sha1;

    /// <summary>Creates a script from its Lua source.</summary>
    public RedisScript(string name, string source)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(source);
        Name = name;
        Source = source;
        _sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(source));
        Sha1Hex = Convert.ToHexStringLower(_sha1);
    }

    /// <summary>A short name for logs and metrics.</summary>
    public string Name { get; }

    /// <summary>The Lua source.</summary>
    public string Source { get; }

    /// <summary>The SHA1 of <see cref="Source"/> in lower-case hex, as <c>SCRIPT LOAD</c> returns it.</summary>
    public string Sha1Hex { get; }

    /// <summary>Raised (with the script) each time a server had lost the script and it was sent again.</summary>
    internal static event Action<RedisScript>? Reloaded;

    /// <summary>Loads the embedded resource <c>RedisKit.Lua.{name}.lua</c> of this assembly (cached).</summary>
    internal static RedisScript FromResource(string name) => Embedded.GetOrAdd(name, static n =>
    {
        var assembly = typeof(RedisScript).Assembly;
        using var stream = assembly.GetManifestResourceStream($"RedisKit.Lua.{n}.lua")
            ?? throw new InvalidOperationException($"Embedded script 'RedisKit.Lua.{n}.lua' is missing from {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return new RedisScript(n, reader.ReadToEnd());
    });

    /// <summary>
    /// One script made of several embedded resources of this assembly, joined in order (shared Lua
    /// functions first). Redis receives a single self-contained script; its SHA covers the whole text.
    /// </summary>
    internal static RedisScript FromResources(string name, params string[] resources)
    {
        var assembly = typeof(RedisScript).Assembly;
        var parts = resources.Select(r =>
        {
            using var stream = assembly.GetManifestResourceStream($"RedisKit.Lua.{r}.lua")
                ?? throw new InvalidOperationException($"Embedded script 'RedisKit.Lua.{r}.lua' is missing from {assembly.GetName().Name}.");
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        });
        return new RedisScript(name, string.Join('\n', parts));
    }

    /// <summary>Loads an embedded <c>.lua</c> resource of <paramref name="assembly"/> by its manifest name.</summary>
    public static RedisScript FromResource(Assembly assembly, string resourceName)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        using var stream = assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"Embedded script '{resourceName}' is missing from {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var name = Path.GetFileNameWithoutExtension(resourceName);
        return new RedisScript(name, reader.ReadToEnd());
    }

    /// <summary>
    /// Runs the script: one round trip (<c>EVALSHA</c>), two when the server had lost it
    /// (<c>NOSCRIPT</c>, then <c>EVAL</c>).
    /// </summary>
    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync database, RedisKey[]? keys = null, RedisValue[]? values = null, CommandFlags flags = CommandFlags.None)
    {
        ArgumentNullException.ThrowIfNull(database);
        try
        {
            return await database.ScriptEvaluateAsync(_sha1, keys, values, flags).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            Reloaded?.Invoke(this);
            return await database.ExecuteAsync("EVAL", BuildEvalArgs(keys, values), flags).ConfigureAwait(false);
        }
    }

    private object[] BuildEvalArgs(RedisKey[]? keys, RedisValue[]? values)
    {
        // RedisKey arguments tell StackExchange.Redis which node to route to on a cluster.
        var keyCount = keys?.Length ?? 0;
        var args = new object[2 + keyCount + (values?.Length ?? 0)];
        args[0] = Source;
        args[1] = keyCount;
        var position = 2;
        if (keys is not null)
        {
            foreach (var key in keys)
            {
                args[position++] = key;
            }
        }

        if (values is not null)
        {
            foreach (var value in values)
            {
                args[position++] = value;
            }
        }

        return args;
    }
}

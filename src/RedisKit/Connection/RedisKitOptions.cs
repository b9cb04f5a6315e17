using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RedisKit;

/// <summary>
/// Settings shared by every RedisKit capability: where Redis is, how keys are named, and how the
/// connection behaves. Bound from the <c>RedisKit</c> configuration section; the connection string
/// falls back to <c>ConnectionStrings:redis</c>. Validated when the host starts: a bad value stops the
/// application at boot with the setting's name in the error.
/// </summary>
public sealed class RedisKitOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "RedisKit";

    /// <summary>The name under <c>ConnectionStrings</c> used when <see cref="ConnectionString"/> is not set.</summary>
    public const string ConnectionStringName = "redis";

    /// <summary>
    /// Where Redis is: a StackExchange.Redis configuration string (<c>host:port,password=…</c>) or a URL
    /// <c>redis://[user:password@]host[:port][/db]</c>; <c>rediss://</c> enables TLS. Ignored when a
    /// multiplexer is supplied or <see cref="Sentinel"/> is configured.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>Sentinel settings; when set, RedisKit asks these sentinels for the current primary.</summary>
    [ValidateObjectMembers]
    public RedisSentinelOptions? Sentinel { get; set; }

    /// <summary>The application prefix that starts every key RedisKit writes (<c>{prefix}:{capability}:…</c>).</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_.-]{1,64}$", ErrorMessage = "RedisKit:KeyPrefix must be 1-64 characters of letters, digits, '_', '.' or '-'.")]
    public string KeyPrefix { get; set; } = "rediskit";

    /// <summary>The longest key, in UTF-8 bytes, RedisKit will build; longer keys are rejected with <see cref="RedisKeyTooLongException"/>.</summary>
    [Range(32, 1024 * 1024)]
    public int MaxKeyLength { get; set; } = 1024;

    /// <summary>The client name shown by <c>CLIENT LIST</c>; defaults to <c>{KeyPrefix}:{machine name}</c>.</summary>
    [MaxLength(128)]
    public string? ClientName { get; set; }

    /// <summary>How long one connection attempt may take.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a command may wait for its reply before it fails with a timeout.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// What a command does when it is issued while no connection to its server is available (Redis down,
    /// restarting, or a failover in progress). <see langword="false"/> (the default, StackExchange.Redis's own
    /// behaviour): it waits in the client's backlog until the connection is back or <see cref="CommandTimeout"/>
    /// passes, which hides short blips but makes every caller wait up to the timeout during an outage.
    /// <see langword="true"/>: it fails at once with <c>RedisConnectionException</c>, so each capability's
    /// degradation (fail-open limits, stale cache values, 503 for sessions) applies immediately and request
    /// threads are not held. Services under load usually want <see langword="true"/> (docs/operations.md).
    /// </summary>
    public bool FailFastWhenDisconnected { get; set; }

    /// <summary>The first reconnect delay; each later attempt doubles it (with jitter) up to <see cref="ReconnectMaxDelay"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ReconnectBaseDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The cap on the reconnect delay.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A CA certificate (PEM or DER file) to trust for TLS (<c>rediss://</c> or <c>ssl=true</c>), for servers
    /// whose certificate is issued by a private CA. The server name is still validated.
    /// </summary>
    public string? TlsCaCertificatePath { get; set; }

    /// <summary>
    /// Declares that a Garnet server runs with <c>--lua-transaction-mode</c>, which makes its Lua atomic.
    /// Garnet does not report this setting, so RedisKit cannot probe it; without it, capabilities that
    /// need atomic scripts refuse to start on Garnet.
    /// </summary>
    public bool GarnetLuaTransactionMode { get; set; }
}

/// <summary>Sentinel-managed deployments: the service (primary) name and the sentinels to ask.</summary>
public sealed class RedisSentinelOptions
{
    /// <summary>The name of the monitored primary (<c>sentinel monitor NAME …</c>).</summary>
    [Required]
    public string ServiceName { get; set; } = "";

    /// <summary>Sentinel endpoints as <c>host:port</c>.</summary>
    [Required]
    [MinLength(1)]
    public IList<string> Endpoints { get; set; } = [];

    /// <summary>Password for the data nodes (not the sentinels), if any.</summary>
    public string? Password { get; set; }

    /// <summary>ACL user for the data nodes, if any.</summary>
    public string? User { get; set; }
}

[OptionsValidator]
internal sealed partial class RedisKitOptionsDataAnnotationsValidator : IValidateOptions<RedisKitOptions>;

/// <summary>Checks what data annotations cannot: that the connection settings parse.</summary>
internal sealed class RedisKitOptionsValidator : IValidateOptions<RedisKitOptions>
{
    private readonly bool _hasSuppliedConnection;

    public RedisKitOptionsValidator(bool hasSuppliedConnection) => _hasSuppliedConnection = hasSuppliedConnection;

    public ValidateOptionsResult Validate(string? name, RedisKitOptions options)
    {
        var annotations = new RedisKitOptionsDataAnnotationsValidator().Validate(name, options);
        if (annotations.Failed)
        {
            return annotations;
        }

        if (options.ReconnectMaxDelay < options.ReconnectBaseDelay)
        {
            return ValidateOptionsResult.Fail("RedisKit:ReconnectMaxDelay must be at least RedisKit:ReconnectBaseDelay.");
        }

        if (options.TlsCaCertificatePath is { Length: > 0 } ca && !File.Exists(ca))
        {
            return ValidateOptionsResult.Fail($"RedisKit:TlsCaCertificatePath: the file '{ca}' does not exist.");
        }

        if (_hasSuppliedConnection)
        {
            return ValidateOptionsResult.Success;
        }

        if (options.Sentinel is { } sentinel)
        {
            foreach (var endpoint in sentinel.Endpoints)
            {
                if (!RedisConnectionString.TryParseEndPoint(endpoint, 26379, out _))
                {
                    return ValidateOptionsResult.Fail($"RedisKit:Sentinel:Endpoints: '{endpoint}' is not a host:port endpoint.");
                }
            }

            return ValidateOptionsResult.Success;
        }

        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            return ValidateOptionsResult.Fail(
                "RedisKit:ConnectionString (or ConnectionStrings:redis) is required: set it to 'host:port' or 'redis://host:port', or configure RedisKit:Sentinel.");
        }

        try
        {
            RedisConnectionString.Parse(options.ConnectionString);
        }
        catch (FormatException ex)
        {
            return ValidateOptionsResult.Fail($"RedisKit:ConnectionString is invalid: {ex.Message}");
        }

        return ValidateOptionsResult.Success;
    }
}

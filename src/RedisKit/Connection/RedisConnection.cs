using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// Owns (or borrows) the application's multiplexer: connects once, probes capabilities, logs
/// connection events, re-probes after a restore, and closes the multiplexer it created on dispose.
/// </summary>
internal sealed partial class RedisConnection : IRedisConnection, IAsyncDisposable
{
    private readonly RedisKitOptions _options;
    private readonly ILogger _logger;
    private readonly Func<CancellationToken, Task<IConnectionMultiplexer>> _connect;
    private readonly bool _ownsMultiplexer;
    private readonly Lock _gate = new();
    private Task<IConnectionMultiplexer>? _connecting;
    private Task<RedisCapabilities>? _probing;
    private volatile RedisCapabilities? _capabilities;
    private int _disposed;

    public RedisConnection(
        IOptions<RedisKitOptions> options,
        ILogger logger,
        Func<CancellationToken, Task<IConnectionMultiplexer>>? suppliedFactory)
    {
        _options = options.Value;
        _logger = logger;
        Keys = new KeyBuilder(_options.KeyPrefix, _options.MaxKeyLength);
        _ownsMultiplexer = suppliedFactory is null;
        _connect = suppliedFactory ?? ConnectOwnedAsync;
    }

    public KeyBuilder Keys { get; }

    public RedisCapabilities? Capabilities => _capabilities;

    public ValueTask<IConnectionMultiplexer> GetMultiplexerAsync(CancellationToken cancellationToken = default)
    {
        var task = _connecting;
        if (task is { IsCompletedSuccessfully: true })
        {
            return new ValueTask<IConnectionMultiplexer>(task.Result);
        }

        return new ValueTask<IConnectionMultiplexer>(StartConnecting().WaitAsync(cancellationToken));
    }

    public ValueTask<IDatabase> GetDatabaseAsync(CancellationToken cancellationToken = default)
    {
        var task = _connecting;
        if (task is { IsCompletedSuccessfully: true })
        {
            return new ValueTask<IDatabase>(task.Result.GetDatabase());
        }

        return Slow(cancellationToken);

        async ValueTask<IDatabase> Slow(CancellationToken ct) => (await GetMultiplexerAsync(ct).ConfigureAwait(false)).GetDatabase();
    }

    public ValueTask<RedisCapabilities> GetCapabilitiesAsync(CancellationToken cancellationToken = default)
    {
        var known = _capabilities;
        if (known is not null)
        {
            return new ValueTask<RedisCapabilities>(known);
        }

        Task<RedisCapabilities> probing;
        lock (_gate)
        {
            if (_probing is null || _probing.IsFaulted || _probing.IsCanceled)
            {
                _probing = ProbeAsync();
            }

            probing = _probing;
        }

        return new ValueTask<RedisCapabilities>(probing.WaitAsync(cancellationToken));
    }

    private Task<IConnectionMultiplexer> StartConnecting()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        lock (_gate)
        {
            if (_connecting is null || _connecting.IsFaulted || _connecting.IsCanceled)
            {
                _connecting = ConnectAndHookAsync();
            }

            return _connecting;
        }
    }

    private async Task<IConnectionMultiplexer> ConnectAndHookAsync()
    {
        var multiplexer = await _connect(CancellationToken.None).ConfigureAwait(false);
        multiplexer.ConnectionFailed += OnConnectionFailed;
        multiplexer.ConnectionRestored += OnConnectionRestored;
        multiplexer.ErrorMessage += OnErrorMessage;
        multiplexer.InternalError += OnInternalError;
        if (multiplexer.IsConnected)
        {
            LogConnected(_logger, multiplexer.ClientName);
        }
        else
        {
            LogStartedDisconnected(_logger, multiplexer.ClientName);
        }

        return multiplexer;
    }

    private async Task<RedisCapabilities> ProbeAsync()
    {
        var multiplexer = await StartConnecting().ConfigureAwait(false);
        try
        {
            var capabilities = await CapabilityProbe.ProbeAsync(
                multiplexer,
                sentinelManaged: _options.Sentinel is not null || multiplexer.GetServers().Any(s => s.ServerType == ServerType.Sentinel),
                _options.GarnetLuaTransactionMode,
                Keys.Key("probe", "none")).ConfigureAwait(false);
            _capabilities = capabilities;
            LogProbed(_logger, capabilities.ToString(), capabilities.Features.ToString());
            foreach (var limitation in capabilities.DescribeLimitations())
            {
                LogLimitation(_logger, limitation);
            }

            return capabilities;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogProbeFailed(_logger, ex);
            throw;
        }
    }

    private async Task<IConnectionMultiplexer> ConnectOwnedAsync(CancellationToken cancellationToken)
    {
        var configuration = BuildConfiguration(_options);
        return await ConnectionMultiplexer.ConnectAsync(configuration).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Applies RedisKit's connection policy on top of what the user configured.</summary>
    internal static ConfigurationOptions BuildConfiguration(RedisKitOptions options)
    {
        ConfigurationOptions configuration;
        if (options.Sentinel is { } sentinel)
        {
            configuration = new ConfigurationOptions
            {
                ServiceName = sentinel.ServiceName,
                Password = sentinel.Password,
                User = sentinel.User,
            };
            foreach (var endpoint in sentinel.Endpoints)
            {
                RedisConnectionString.TryParseEndPoint(endpoint, 26379, out var parsed);
                configuration.EndPoints.Add(parsed!);
            }
        }
        else
        {
            configuration = RedisConnectionString.Parse(options.ConnectionString!);
        }

        if (options.TlsCaCertificatePath is { Length: > 0 } ca)
        {
            configuration.TrustIssuer(ca);
        }

        // Start even when Redis is down; capabilities degrade per their documented policy.
        configuration.AbortOnConnectFail = false;
        configuration.ConnectTimeout = (int)options.ConnectTimeout.TotalMilliseconds;
        configuration.SyncTimeout = (int)options.CommandTimeout.TotalMilliseconds;
        configuration.AsyncTimeout = (int)options.CommandTimeout.TotalMilliseconds;
        if (options.FailFastWhenDisconnected)
        {
            // Commands issued while no connection is available fail at once instead of waiting in the
            // client's backlog for CommandTimeout.
            configuration.BacklogPolicy = BacklogPolicy.FailFast;
        }

        configuration.ReconnectRetryPolicy = new ExponentialRetry(
            (int)options.ReconnectBaseDelay.TotalMilliseconds,
            (int)options.ReconnectMaxDelay.TotalMilliseconds);
        // INFO and COMMAND (capability probe, stats) are "admin" commands to StackExchange.Redis. Which
        // commands a client may really run is the server's ACL's job; FLUSHALL, KEYS and CONFIG are never
        // sent by RedisKit.
        configuration.AllowAdmin = true;
        // With admin allowed, StackExchange.Redis sends CONFIG GET (timeout, databases, replica-read-only) on every
        // connect. RedisKit needs none of it, and an ACL that denies CONFIG would log a denial per connection
        // (proved by AclAndTlsCapabilityTests). A command map the user set is kept as it is.
        if (ReferenceEquals(configuration.CommandMap, CommandMap.Default))
        {
            configuration.CommandMap = CommandMap.Create(new HashSet<string> { "CONFIG" }, available: false);
        }

        configuration.ClientName ??= options.ClientName ?? $"{options.KeyPrefix}:{Environment.MachineName}";
        return configuration;
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) =>
        LogConnectionFailed(_logger, Format(e.EndPoint), e.ConnectionType, e.FailureType, e.Exception);

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        LogConnectionRestored(_logger, Format(e.EndPoint), e.ConnectionType);

        // A restart or failover may have put a different server behind the endpoint.
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            _capabilities = null;
            _ = GetCapabilitiesAsync().AsTask().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        }
    }

    private void OnErrorMessage(object? sender, RedisErrorEventArgs e)
    {
        // NOSCRIPT (the first EVALSHA of each script on a fresh or restarted server: RedisScript reloads it) and
        // BUSYGROUP (a consumer group that already exists) are part of normal operation, not problems.
        if (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal) || e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            LogExpectedServerReply(_logger, Format(e.EndPoint), e.Message);
            return;
        }

        LogServerError(_logger, Format(e.EndPoint), e.Message);
    }

    private void OnInternalError(object? sender, InternalErrorEventArgs e) => LogInternalError(_logger, Format(e.EndPoint), e.Origin, e.Exception);

    private static string Format(EndPoint? endPoint) => endPoint is null ? "(unknown)" : Format(endPoint.ToString());

    private static string Format(string? endPoint) => endPoint ?? "(unknown)";

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var connecting = _connecting;
        if (connecting is null || !_ownsMultiplexer)
        {
            return;
        }

        try
        {
            var multiplexer = await connecting.ConfigureAwait(false);
            multiplexer.ConnectionFailed -= OnConnectionFailed;
            multiplexer.ConnectionRestored -= OnConnectionRestored;
            multiplexer.ErrorMessage -= OnErrorMessage;
            multiplexer.InternalError -= OnInternalError;
            await multiplexer.CloseAsync(allowCommandsToComplete: true).ConfigureAwait(false);
            await multiplexer.DisposeAsync().ConfigureAwait(false);
            LogClosed(_logger);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            LogCloseFailed(_logger, ex);
        }
    }
}

using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// Settings of a <see cref="RedlockProvider"/>. Registered with <c>AddRedlock</c> they are validated when the host
/// starts (a bad value stops it with the option's name); given to the constructor they are checked there
/// (<see cref="ArgumentOutOfRangeException"/> naming the setting).
/// </summary>
public sealed class RedlockOptions
{
    /// <summary>The configuration section bound by <c>AddRedlock</c>.</summary>
    public const string SectionName = "RedisKit:Redlock";

    /// <summary>
    /// The independent Redis servers, one StackExchange.Redis configuration string each (e.g. <c>redis-a:6379</c>);
    /// used by <c>AddRedlock</c> only. At least one; Redlock is meant for an odd number, 5 being usual (a quorum of
    /// 3 tolerates 2 servers down). They must not be replicas of one another.
    /// </summary>
    [Required]
    [MinLength(1)]
    public IList<string> Endpoints { get; set; } = [];

    /// <summary>The first segment of every lock key (<c>{KeyPrefix}:redlock:{name}</c>). Default <c>rediskit</c>.</summary>
    [Required]
    public string KeyPrefix { get; set; } = "rediskit";

    /// <summary>How long a lock lives on each server without extension. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan Expiry { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether held locks are extended (on a quorum) in the background. Default true.</summary>
    public bool AutoExtend { get; set; } = true;

    /// <summary>The longest a lock is auto-extended; null means no limit.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "365.00:00:00")]
    public TimeSpan? MaxHoldTime { get; set; }

    /// <summary>
    /// The clock-drift allowance as a fraction of the expiry (Redlock's CLOCK_DRIFT_FACTOR); 2 ms are added
    /// to it. A lock is valid for <c>expiry - elapsed - drift</c>. Default 0.01.
    /// </summary>
    [Range(0.0, 0.49)]
    public double ClockDriftFactor { get; set; } = 0.01;

    /// <summary>The shortest pause between two attempts while waiting. Default 50 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan MinRetryDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest pause between two attempts while waiting. Default 250 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Whether disposing a handle waits until every server answered its release. False (the default): the release
    /// is written to every server and <c>DisposeAsync</c> returns; replies are checked in the background and the
    /// provider's <c>DisposeAsync</c> waits for them. See <see cref="LockingOptions.AwaitRelease"/>.
    /// </summary>
    public bool AwaitRelease { get; set; }
}

/// <summary>
/// Redlock: one lock over N independent Redis servers (not replicas of each other). An attempt sets the key
/// (<c>SET NX PX</c>) on every server in parallel; it succeeds when at least N/2+1 servers accepted it and the
/// time the attempt took plus the clock-drift allowance left some validity; otherwise the key is released on
/// every server. A server that is down or errors counts as a refusal, so with 5 servers, 2 may be down.
/// Redlock gives no fencing token (<see cref="IRedisLockHandle.FencingToken"/> is 0): under process pauses and
/// clock jumps it cannot protect a resource by itself (Kleppmann); see docs/locks.md.
/// </summary>
public sealed class RedlockProvider : IAsyncDisposable
{
    private readonly IDatabase[] _databases;
    private readonly IConnectionMultiplexer[] _owned;
    private readonly KeyBuilder _keys;
    private readonly LockEngine _engine;
    private readonly RedlockOptions _options;

    /// <summary>
    /// A provider over <paramref name="servers"/> (independent servers; the caller keeps ownership).
    /// No round trip.
    /// </summary>
    public RedlockProvider(IEnumerable<IConnectionMultiplexer> servers, RedlockOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(servers, owned: false, options, loggerFactory, timeProvider, metrics: null)
    {
    }

    private RedlockProvider(IEnumerable<IConnectionMultiplexer> servers, bool owned, RedlockOptions? options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider, LockingMetrics? metrics)
    {
        ArgumentNullException.ThrowIfNull(servers);
        var multiplexers = servers.ToArray();
        if (multiplexers.Length == 0)
        {
            throw new ArgumentException("Redlock needs at least one server (5 is usual).", nameof(servers));
        }

        _options = options ?? new RedlockOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Expiry, TimeSpan.FromMilliseconds(10), "RedlockOptions.Expiry");
        ArgumentOutOfRangeException.ThrowIfNegative(_options.ClockDriftFactor, "RedlockOptions.ClockDriftFactor");
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(_options.ClockDriftFactor, 0.5, "RedlockOptions.ClockDriftFactor");
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MinRetryDelay, TimeSpan.FromMilliseconds(1), "RedlockOptions.MinRetryDelay");
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxRetryDelay, _options.MinRetryDelay, "RedlockOptions.MaxRetryDelay");
        _databases = [.. multiplexers.Select(m => m.GetDatabase())];
        _owned = owned ? multiplexers : [];
        _keys = new KeyBuilder(_options.KeyPrefix);
        var locking = new LockingOptions
        {
            Expiry = _options.Expiry,
            AutoExtend = _options.AutoExtend,
            MaxHoldTime = _options.MaxHoldTime,
            MinRetryDelay = _options.MinRetryDelay,
            MaxRetryDelay = _options.MaxRetryDelay,
            ReleaseNotifications = false,
            AwaitRelease = _options.AwaitRelease,
        };
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<RedlockProvider>();
        _engine = new LockEngine(locking, timeProvider ?? TimeProvider.System, metrics ?? LockingMetrics.None, logger, channel: null, subscriberSource: null);
    }

    /// <summary>How many servers the lock spans.</summary>
    public int ServerCount => _databases.Length;

    /// <summary>How many servers must accept an attempt: N/2+1.</summary>
    public int Quorum => (_databases.Length / 2) + 1;

    /// <summary>
    /// Connects to each server in <paramref name="connectionStrings"/> (StackExchange.Redis configuration strings;
    /// <c>abortConnect=false</c> is added so a server that is down now does not stop the others) and returns a provider
    /// that owns those connections (disposing it closes them).
    /// </summary>
    public static Task<RedlockProvider> ConnectAsync(IEnumerable<string> connectionStrings, RedlockOptions? options = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default) =>
        ConnectCoreAsync(connectionStrings, options, loggerFactory, timeProvider: null, metrics: null, cancellationToken);

    /// <summary>Connects to every server in parallel (each waits at most its connect timeout; a down server does not fail).</summary>
    internal static async Task<RedlockProvider> ConnectCoreAsync(IEnumerable<string> connectionStrings, RedlockOptions? options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider, LockingMetrics? metrics, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connectionStrings);
        var connects = connectionStrings.Select(connectionString =>
        {
            var configuration = ConfigurationOptions.Parse(connectionString);
            configuration.AbortOnConnectFail = false;
            return ConnectionMultiplexer.ConnectAsync(configuration);
        }).ToArray();
        var multiplexers = await Task.WhenAll(connects).WaitAsync(cancellationToken).ConfigureAwait(false);
        return new RedlockProvider(multiplexers, owned: true, options, loggerFactory, timeProvider, metrics);
    }

    /// <summary>
    /// A Redlock lock named <paramref name="name"/>. No round trip. Acquiring costs one round trip to every server
    /// (in parallel) per attempt, plus one to every server to release after a failed attempt. A server that is
    /// down is a refusal; when fewer than a quorum accept, <c>TryAcquireAsync</c> retries until its timeout and then returns null.
    /// </summary>
    public IRedisLock CreateLock(string name, RedisLockSettings? settings = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new Redlock(this, name, _engine.Resolve(settings));
    }

    /// <summary>
    /// Waits for releases still in flight (each ends with its replies or the client's timeout), then closes the
    /// connections this provider opened (none when it was given multiplexers).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        await _engine.FlushReleasesAsync().ConfigureAwait(false);
        _engine.Dispose();
        foreach (var multiplexer in _owned)
        {
            await multiplexer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class Redlock : LockPrimitive, IRedisLock
    {
        private readonly RedlockProvider _provider;
        private readonly RedisKey _key;
        private readonly RedisKey[] _keyArray;

        public Redlock(RedlockProvider provider, string name, LockTiming timing)
            : base(provider._engine, name, "redlock", timing)
        {
            _provider = provider;
            _key = provider._keys.Key("redlock", name);
            _keyArray = [_key];
            ValidityMargin = TimeSpan.FromMilliseconds((timing.Expiry.TotalMilliseconds * provider._options.ClockDriftFactor) + 2);
        }

        public override TimeSpan ValidityMargin { get; }

        public int Quorum => _provider.Quorum;

        public override string SignalKey => _key.ToString();

        public ValueTask<IRedisLockHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
            TryAcquireCoreAsync(timeout, cancellationToken);

        public ValueTask<IRedisLockHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
            AcquireCoreAsync(timeout, cancellationToken);

        public override async ValueTask<long> TryOnceAsync(RedisValue[] arguments, CancellationToken cancellationToken)
        {
            var token = arguments[0];
            var start = Engine.Time.GetTimestamp();
            var databases = _provider._databases;
            var attempts = new Task<bool>[databases.Length];
            for (var i = 0; i < databases.Length; i++)
            {
                attempts[i] = SetAsync(databases[i], token);
            }

            var results = await Task.WhenAll(attempts).ConfigureAwait(false);
            var acquired = results.Count(static r => r);
            var validity = Timing.Expiry - Engine.Time.GetElapsedTime(start) - ValidityMargin;
            if (acquired >= _provider.Quorum && validity > TimeSpan.Zero)
            {
                return 0;
            }

            LockEngine.LogRedlockFailed(Engine.Logger, Name, acquired, databases.Length, _provider.Quorum, validity.TotalMilliseconds);
            await ReleaseEverywhereAsync(arguments).ConfigureAwait(false);
            return -1;
        }

        public async Task<int> ExtendEverywhereAsync(RedisValue[] arguments, long expiryMilliseconds)
        {
            var databases = _provider._databases;
            var values = expiryMilliseconds == (long)arguments[1] ? arguments : [arguments[0], expiryMilliseconds];
            var attempts = new Task<bool>[databases.Length];
            for (var i = 0; i < databases.Length; i++)
            {
                attempts[i] = ExtendAsync(databases[i], values);
            }

            var results = await Task.WhenAll(attempts).ConfigureAwait(false);
            return results.Count(static r => r);
        }

        /// <summary>Writes the release to every server now (each call runs synchronously up to its send); completes when all answered.</summary>
        public Task ReleaseEverywhereAsync(RedisValue[] arguments)
        {
            var databases = _provider._databases;
            var releases = new Task[databases.Length];
            for (var i = 0; i < databases.Length; i++)
            {
                releases[i] = ReleaseAsync(databases[i], arguments);
            }

            return Task.WhenAll(releases);
        }

        protected override LockHandle CreateHandle(RedisValue[] arguments, long result, long attemptStart) => new RedlockHandle(this, arguments, attemptStart);

        private async Task<bool> SetAsync(IDatabase database, RedisValue token)
        {
            try
            {
                return await database.StringSetAsync(_key, token, Timing.Expiry, When.NotExists).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                LockEngine.LogRedlockServerFailed(Engine.Logger, database.Multiplexer.Configuration, ex);
                return false;
            }
        }

        private async Task<bool> ExtendAsync(IDatabase database, RedisValue[] values)
        {
            try
            {
                return (long)await RedisLock.ExtendScript.EvaluateAsync(database, _keyArray, values).ConfigureAwait(false) == 1;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                LockEngine.LogRedlockServerFailed(Engine.Logger, database.Multiplexer.Configuration, ex);
                return false;
            }
        }

        private async Task ReleaseAsync(IDatabase database, RedisValue[] arguments)
        {
            try
            {
                // By text: StackExchange.Redis pipelines SCRIPT LOAD before the first EVALSHA on a server and retries a NOSCRIPT.
                await database.ScriptEvaluateAsync(RedisLock.ReleaseScript.Source, _keyArray, arguments).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // The key expires by itself on that server.
                LockEngine.LogRedlockServerFailed(Engine.Logger, database.Multiplexer.Configuration, ex);
            }
        }
    }

    private sealed class RedlockHandle(Redlock owner, RedisValue[] arguments, long attemptStart) : LockHandle(owner, arguments, 0, attemptStart)
    {
        protected override async ValueTask<bool> ExtendCoreAsync(long expiryMilliseconds)
        {
            var start = owner.Engine.Time.GetTimestamp();
            var extended = await owner.ExtendEverywhereAsync(Arguments, expiryMilliseconds).ConfigureAwait(false);
            var validity = TimeSpan.FromMilliseconds(expiryMilliseconds) - owner.Engine.Time.GetElapsedTime(start) - owner.ValidityMargin;
            return extended >= owner.Quorum && validity > TimeSpan.Zero;
        }

        protected override Task ReleaseCoreAsync() => owner.ReleaseEverywhereAsync(Arguments);
    }
}

[OptionsValidator]
internal sealed partial class RedlockOptionsDataAnnotationsValidator : IValidateOptions<RedlockOptions>;

/// <summary>Data annotations plus the cross-field and endpoint rules of <see cref="RedlockOptions"/>.</summary>
internal sealed class RedlockOptionsValidator : IValidateOptions<RedlockOptions>
{
    public ValidateOptionsResult Validate(string? name, RedlockOptions options)
    {
        var annotations = new RedlockOptionsDataAnnotationsValidator().Validate(name, options);
        if (annotations.Failed)
        {
            return annotations;
        }

        if (options.MaxRetryDelay < options.MinRetryDelay)
        {
            return ValidateOptionsResult.Fail("RedisKit:Redlock:MaxRetryDelay must be at least RedisKit:Redlock:MinRetryDelay.");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Endpoints.Count; i++)
        {
            var endpoint = options.Endpoints[i];
            if (string.IsNullOrWhiteSpace(endpoint))
            {
                return ValidateOptionsResult.Fail($"RedisKit:Redlock:Endpoints:{i} is empty.");
            }

            try
            {
                if (ConfigurationOptions.Parse(endpoint).EndPoints.Count == 0)
                {
                    return ValidateOptionsResult.Fail($"RedisKit:Redlock:Endpoints:{i} ('{endpoint}') names no server.");
                }
            }
            catch (ArgumentException ex)
            {
                return ValidateOptionsResult.Fail($"RedisKit:Redlock:Endpoints:{i} ('{endpoint}') is not a valid configuration string: {ex.Message}");
            }

            if (!seen.Add(endpoint.Trim()))
            {
                return ValidateOptionsResult.Fail($"RedisKit:Redlock:Endpoints:{i} ('{endpoint}') is listed twice; Redlock needs independent servers.");
            }
        }

        return ValidateOptionsResult.Success;
    }
}

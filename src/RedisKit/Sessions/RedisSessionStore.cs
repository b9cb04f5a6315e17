using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// <see cref="ISessionStore"/> on Redis. Keys (one hash slot per user):
/// <c>{prefix}:session:{tag}:s:{id}</c> (hash: <c>$</c>-prefixed metadata, <c>f:</c>-prefixed fields) and
/// <c>{prefix}:session:{tag}:u</c> (sorted set of ids scored by creation time in microseconds), where the tag is the
/// id's last 8 characters, derived from the user id.
/// </summary>
internal sealed partial class RedisSessionStore : ISessionStore
{
    internal const string Capability = "session";
    private const string FieldPrefix = "f:";

    private static readonly RedisScript CreateScript = RedisScript.FromResource("session-create");
    private static readonly RedisScript GetScript = RedisScript.FromResource("session-get");
    private static readonly RedisScript SetScript = RedisScript.FromResource("session-set");
    private static readonly RedisScript RotateScript = RedisScript.FromResource("session-rotate");
    private static readonly RedisScript DestroyScript = RedisScript.FromResource("session-destroy");
    private static readonly RedisScript ListScript = RedisScript.FromResource("session-list");
    private static readonly RedisScript DestroyAllScript = RedisScript.FromResource("session-destroy-all");

    private readonly IRedisConnection _connection;
    private readonly IRedisSerializer _serializer;
    private readonly SessionOptions _options;
    private readonly ILogger _logger;
    private readonly Counter<long> _created;
    private readonly Counter<long> _loads;
    private readonly Counter<long> _destroyed;
    private readonly Counter<long> _rotated;
    private readonly Counter<long> _unavailable;
    private readonly Histogram<double> _loadDuration;

    public RedisSessionStore(IRedisConnection connection, IRedisSerializer serializer, IOptions<SessionOptions> options, IMeterFactory meterFactory, ILogger<RedisSessionStore> logger)
    {
        _connection = connection;
        _serializer = serializer;
        _options = options.Value;
        _logger = logger;
        var meter = meterFactory.Create(RedisKitDiagnostics.MeterName);
        _created = meter.CreateCounter<long>(SessionInstruments.Created, "{session}", "Sessions created.");
        _loads = meter.CreateCounter<long>(SessionInstruments.Loads, "{load}", "Session loads by result.");
        _destroyed = meter.CreateCounter<long>(SessionInstruments.Destroyed, "{session}", "Sessions destroyed, by reason.");
        _rotated = meter.CreateCounter<long>(SessionInstruments.Rotated, "{session}", "Sessions rotated to a new id.");
        _unavailable = meter.CreateCounter<long>(SessionInstruments.Unavailable, "{call}", "Session store calls that failed because Redis was unavailable.");
        _loadDuration = meter.CreateHistogram<double>(SessionInstruments.LoadDuration, "s", "Duration of a session load+touch.");
    }

    public async Task<RedisSession> CreateAsync(string userId, IReadOnlyDictionary<string, byte[]>? fields = null, string? clientDescription = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        var description = clientDescription ?? "";
        if (description.Length > _options.MaxClientDescriptionLength)
        {
            description = description[.._options.MaxClientDescriptionLength];
        }

        var tag = SessionId.UserTag(userId);
        var values = new RedisValue[7 + (fields?.Count ?? 0) * 2];
        values[1] = userId;
        values[2] = description;
        values[3] = (long)_options.IdleTimeout.TotalMilliseconds;
        values[4] = (long)_options.AbsoluteTimeout.TotalMilliseconds;
        values[5] = _options.MaxSessionsPerUser;
        values[6] = SessionKeyPrefix(tag);
        var position = 7;
        if (fields is not null)
        {
            foreach (var (name, value) in fields)
            {
                ValidateFieldName(name);
                values[position++] = FieldPrefix + name;
                values[position++] = value;
            }
        }

        for (var attempt = 0; ; attempt++)
        {
            var id = SessionId.New(userId);
            values[0] = id;
            var result = await RunAsync(CreateScript, [SessionKey(id), IndexKey(tag)], values, "create", cancellationToken).ConfigureAwait(false);
            if (result.Resp2Type == ResultType.Integer)
            {
                // 2^-144 odds: the id exists; draw another.
                if (attempt < 3)
                {
                    continue;
                }

                throw new InvalidOperationException("Could not draw an unused session id.");
            }

            var parts = (RedisResult[])result!;
            var now = DateTimeOffset.FromUnixTimeMilliseconds((long)parts[0]);
            var evicted = (long)parts[1];
            _created.Add(1);
            if (evicted > 0 && _destroyed.Enabled)
            {
                _destroyed.Add(evicted, new KeyValuePair<string, object?>("reason", "cap"));
            }

            if (_logger.IsEnabled(LogLevel.Debug))
            {
                LogCreated(_logger, SessionId.LogReference(id), evicted);
            }

            var copy = fields is null ? new Dictionary<string, byte[]>(StringComparer.Ordinal) : new Dictionary<string, byte[]>(fields, StringComparer.Ordinal);
            return new RedisSession(id, userId, now, now, Min(now + _options.IdleTimeout, now + _options.AbsoluteTimeout), now + _options.AbsoluteTimeout, description, copy, _serializer);
        }
    }

    public async Task<RedisSession?> GetAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        if (!IsWellFormed(sessionId))
        {
            return null;
        }

        var started = Stopwatch.GetTimestamp();
        var tag = SessionId.Tag(sessionId);
        var result = await RunAsync(GetScript, [SessionKey(sessionId), IndexKey(tag)], [sessionId], "get", cancellationToken).ConfigureAwait(false);
        if (_loadDuration.Enabled)
        {
            _loadDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }

        if (result.IsNull)
        {
            CountLoad("miss");
            return null;
        }

        if (result.Resp2Type == ResultType.Integer)
        {
            CountLoad("expired");
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                LogExpired(_logger, SessionId.LogReference(sessionId));
            }

            return null;
        }

        var parts = (RedisResult[])result!;
        var session = Parse(sessionId, (long)parts[0], (RedisResult[])parts[1]!);
        CountLoad(session is null ? "miss" : "hit");
        return session;
    }

    public async Task<bool> SetAsync(string sessionId, IReadOnlyDictionary<string, byte[]> fields, IEnumerable<string>? removeFields = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fields);
        if (!IsWellFormed(sessionId))
        {
            return false;
        }

        var removed = removeFields?.ToArray() ?? [];
        var values = new RedisValue[2 + removed.Length + fields.Count * 2];
        values[0] = sessionId;
        values[1] = removed.Length;
        var position = 2;
        foreach (var name in removed)
        {
            ValidateFieldName(name);
            values[position++] = FieldPrefix + name;
        }

        foreach (var (name, value) in fields)
        {
            ValidateFieldName(name);
            values[position++] = FieldPrefix + name;
            values[position++] = value;
        }

        var result = await RunAsync(SetScript, [SessionKey(sessionId), IndexKey(SessionId.Tag(sessionId))], values, "set", cancellationToken).ConfigureAwait(false);
        return (long)result == 1;
    }

    public Task<bool> SetValueAsync<T>(string sessionId, string field, T value, CancellationToken cancellationToken = default) =>
        SetAsync(sessionId, new Dictionary<string, byte[]>(1, StringComparer.Ordinal) { [field] = _serializer.Serialize(value) }, null, cancellationToken);

    public async Task<RedisSession?> RotateAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        if (!IsWellFormed(sessionId))
        {
            return null;
        }

        var tag = SessionId.Tag(sessionId);
        for (var attempt = 0; ; attempt++)
        {
            var newId = SessionId.NewSibling(sessionId);
            var result = await RunAsync(RotateScript, [SessionKey(sessionId), SessionKey(newId), IndexKey(tag)], [sessionId, newId], "rotate", cancellationToken).ConfigureAwait(false);
            if (result.IsNull)
            {
                return null;
            }

            if (result.Resp2Type == ResultType.Integer)
            {
                if ((long)result == -1 && attempt < 3)
                {
                    continue;
                }

                return null;
            }

            var parts = (RedisResult[])result!;
            _rotated.Add(1);
            if (_logger.IsEnabled(LogLevel.Information))
            {
                LogRotated(_logger, SessionId.LogReference(sessionId), SessionId.LogReference(newId));
            }

            return Parse(newId, (long)parts[0], (RedisResult[])parts[1]!);
        }
    }

    public async Task<bool> DestroyAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        if (!IsWellFormed(sessionId))
        {
            return false;
        }

        var result = await RunAsync(DestroyScript, [SessionKey(sessionId), IndexKey(SessionId.Tag(sessionId))], [sessionId], "destroy", cancellationToken).ConfigureAwait(false);
        var existed = (long)result == 1;
        if (existed && _destroyed.Enabled)
        {
            _destroyed.Add(1, new KeyValuePair<string, object?>("reason", "destroy"));
        }

        return existed;
    }

    public async Task<IReadOnlyList<SessionInfo>> ListAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        var tag = SessionId.UserTag(userId);
        var result = await RunAsync(ListScript, [IndexKey(tag)], [SessionKeyPrefix(tag), userId], "list", cancellationToken).ConfigureAwait(false);
        var items = (RedisResult[])result!;
        var list = new List<SessionInfo>(items.Length / 5);
        for (var i = 0; i + 4 < items.Length; i += 5)
        {
            list.Add(new SessionInfo(
                (string)items[i]!,
                FromMs((string?)items[i + 1]),
                FromMs((string?)items[i + 2]),
                (string?)items[i + 3] ?? "",
                FromMs((string?)items[i + 4])));
        }

        return list;
    }

    public async Task<int> DestroyAllAsync(string userId, string? exceptSessionId = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        var tag = SessionId.UserTag(userId);
        var keep = exceptSessionId is not null && SessionId.IsValid(exceptSessionId) ? exceptSessionId : "";
        var result = await RunAsync(DestroyAllScript, [IndexKey(tag)], [SessionKeyPrefix(tag), userId, keep], "destroy_all", cancellationToken).ConfigureAwait(false);
        var count = (int)(long)result;
        if (count > 0 && _destroyed.Enabled)
        {
            _destroyed.Add(count, new KeyValuePair<string, object?>("reason", "destroy_all"));
        }

        if (_logger.IsEnabled(LogLevel.Information))
        {
            LogDestroyedAll(_logger, count, keep.Length == 0 ? "none" : SessionId.LogReference(keep));
        }

        return count;
    }

    internal RedisKey SessionKey(string sessionId) => _connection.Keys.TaggedKey(Capability, SessionId.Tag(sessionId), "s", sessionId);

    internal RedisKey IndexKey(string tag) => _connection.Keys.TaggedKey(Capability, tag, "u");

    private string SessionKeyPrefix(string tag) => _connection.Keys.TaggedKey(Capability, tag, "s", "").ToString();

    private bool IsWellFormed(string? sessionId)
    {
        if (sessionId is not null && SessionId.IsValid(sessionId))
        {
            return true;
        }

        CountLoad("malformed");
        LogMalformed(_logger);
        return false;
    }

    private async Task<RedisResult> RunAsync(RedisScript script, RedisKey[] keys, RedisValue[] values, string operation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            var database = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            return await script.EvaluateAsync(database, keys, values).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            if (_unavailable.Enabled)
            {
                _unavailable.Add(1, new KeyValuePair<string, object?>("operation", operation));
            }

            LogUnavailable(_logger, operation, ex);
            throw new SessionStoreUnavailableException($"The session store (Redis) is unavailable ({operation}).", ex);
        }
    }

    private RedisSession? Parse(string id, long nowMs, RedisResult[] hash)
    {
        var fields = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        string? userId = null;
        string description = "";
        long created = 0, absolute = 0, idle = 0;
        for (var i = 0; i + 1 < hash.Length; i += 2)
        {
            var name = (string)hash[i]!;
            if (name.StartsWith(FieldPrefix, StringComparison.Ordinal))
            {
                fields[name[FieldPrefix.Length..]] = (byte[])hash[i + 1]!;
                continue;
            }

            switch (name)
            {
                case "$uid": userId = (string?)hash[i + 1]; break;
                case "$cd": description = (string?)hash[i + 1] ?? ""; break;
                case "$c": created = ParseLong((string?)hash[i + 1]); break;
                case "$abs": absolute = ParseLong((string?)hash[i + 1]); break;
                case "$idle": idle = ParseLong((string?)hash[i + 1]); break;
                default: break;
            }
        }

        if (userId is null || absolute == 0)
        {
            LogCorrupt(_logger, SessionId.LogReference(id));
            return null;
        }

        var now = DateTimeOffset.FromUnixTimeMilliseconds(nowMs);
        var absoluteAt = DateTimeOffset.FromUnixTimeMilliseconds(absolute);
        return new RedisSession(id, userId, DateTimeOffset.FromUnixTimeMilliseconds(created), now, Min(now.AddMilliseconds(idle), absoluteAt), absoluteAt, description, fields, _serializer);
    }

    private void CountLoad(string result)
    {
        if (_loads.Enabled)
        {
            _loads.Add(1, new KeyValuePair<string, object?>("result", result));
        }
    }

    private static void ValidateFieldName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > 256)
        {
            throw new ArgumentException("A session field name may be at most 256 characters long.", nameof(name));
        }
    }

    private static long ParseLong(string? value) =>
        value is null ? 0 : (long)double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static DateTimeOffset FromMs(string? value) => DateTimeOffset.FromUnixTimeMilliseconds(ParseLong(value));

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}

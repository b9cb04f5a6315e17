using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit;

internal sealed class StreamProducer : IStreamProducer
{
    internal const string Capability = "stream";
    internal const string DataField = "data";
    private static readonly RedisScript AddScript = RedisScript.FromResource("messaging-stream-add");

    private readonly IRedisConnection _connection;
    private readonly IRedisSerializer _serializer;
    private readonly MessagingOptions _options;
    private readonly MessagingMetrics _metrics;

    public StreamProducer(IRedisConnection connection, IRedisSerializer serializer, IOptions<MessagingOptions> options, MessagingMetrics metrics)
    {
        _connection = connection;
        _serializer = serializer;
        _options = options.Value;
        _metrics = metrics;
    }

    internal static RedisKey StreamKey(KeyBuilder keys, string stream) => keys.TaggedKey(Capability, stream);

    internal static RedisKey DeadLetterKey(KeyBuilder keys, string stream) => keys.TaggedKey(Capability, stream, "dead");

    internal static RedisKey IdempotencyKey(KeyBuilder keys, string stream, string idempotencyKey) => keys.TaggedKey(Capability, stream, "idem", idempotencyKey);

    public async Task<StreamAddResult> AddAsync<T>(string stream, T message, long? maxLength = null, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(stream);
        var limit = maxLength ?? _options.DefaultMaxLength;
        if (limit is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxLength), "maxLength must be positive.");
        }

        var key = StreamKey(_connection.Keys, stream);
        var payload = _serializer.Serialize(message);
        var db = await _connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        if (idempotencyKey is null)
        {
            var id = await db.StreamAddAsync(key, DataField, payload, messageId: null, maxLength: limit, useApproximateMaxLength: true)
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            _metrics.Added.Add(1);
            return new StreamAddResult(id.ToString(), Duplicate: false);
        }

        ArgumentException.ThrowIfNullOrEmpty(idempotencyKey);
        var idem = IdempotencyKey(_connection.Keys, stream, idempotencyKey);
        var result = (RedisResult[])(await AddScript.EvaluateAsync(
            db,
            [key, idem],
            [payload, limit ?? 0, (long)_options.IdempotencyWindow.TotalMilliseconds]).WaitAsync(cancellationToken).ConfigureAwait(false))!;
        var added = (long)result[0] == 1;
        (added ? _metrics.Added : _metrics.Duplicates).Add(1);
        return new StreamAddResult(result[1].ToString(), Duplicate: !added);
    }
}

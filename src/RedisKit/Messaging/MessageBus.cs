using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// Typed pub/sub on the shared multiplexer. An ordered subscription owns a StackExchange.Redis
/// <see cref="ChannelMessageQueue"/> (which delivers in order), a concurrent one a plain callback; either
/// only moves the raw message into a bounded <see cref="Channel{T}"/>, and the subscription's readers
/// deserialize and call the handler.
/// So a slow handler never blocks the connection's reader, and memory behind it is capped.
/// </summary>
internal sealed partial class MessageBus : IMessageBus
{
    internal const string Capability = "chan";

    private readonly IRedisConnection _connection;
    private readonly IRedisSerializer _serializer;
    private readonly MessagingOptions _options;
    private readonly MessagingMetrics _metrics;
    private readonly ILogger<MessageBus> _logger;
    private readonly string _channelPrefix;

    public MessageBus(IRedisConnection connection, IRedisSerializer serializer, IOptions<MessagingOptions> options, MessagingMetrics metrics, ILogger<MessageBus> logger)
    {
        _connection = connection;
        _serializer = serializer;
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
        _channelPrefix = connection.Keys.Prefix + ":" + Capability + ":";
    }

    public async Task<long> PublishAsync<T>(string channel, T message, CancellationToken cancellationToken = default)
    {
        var redisChannel = ToRedisChannel(channel);
        var payload = _serializer.Serialize(message);
        var multiplexer = await _connection.GetMultiplexerAsync(cancellationToken).ConfigureAwait(false);
        var receivers = await multiplexer.GetSubscriber().PublishAsync(redisChannel, payload).WaitAsync(cancellationToken).ConfigureAwait(false);
        _metrics.Published.Add(1);
        return receivers;
    }

    public Task<IMessageSubscription> SubscribeAsync<T>(string channel, Func<PubSubMessage<T>, CancellationToken, Task> handler, SubscriptionOptions? options = null, CancellationToken cancellationToken = default) =>
        SubscribeCoreAsync(ToRedisChannel(channel), handler, options, cancellationToken);

    public Task<IMessageSubscription> SubscribePatternAsync<T>(string pattern, Func<PubSubMessage<T>, CancellationToken, Task> handler, SubscriptionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        if (_options.Sharded)
        {
            throw new NotSupportedException("Pattern subscriptions are not available with sharded pub/sub (RedisKit:Messaging:Sharded): Redis has no sharded PSUBSCRIBE.");
        }

        var full = KeyBuilder.EscapeGlob(_channelPrefix) + pattern;
        CheckLength(full);
        return SubscribeCoreAsync(RedisChannel.Pattern(full), handler, options, cancellationToken);
    }

    internal RedisChannel ToRedisChannel(string channel)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        string name = _connection.Keys.Key(Capability, channel)!;
        return _options.Sharded ? RedisChannel.Sharded(name) : RedisChannel.Literal(name);
    }

    internal string ToApplicationChannel(string redisChannel) =>
        redisChannel.StartsWith(_channelPrefix, StringComparison.Ordinal)
            ? Uri.UnescapeDataString(redisChannel[_channelPrefix.Length..])
            : redisChannel;

    private void CheckLength(string name)
    {
        var bytes = System.Text.Encoding.UTF8.GetByteCount(name);
        if (bytes > _connection.Keys.MaxKeyLength)
        {
            throw new RedisKeyTooLongException("pub/sub", bytes, _connection.Keys.MaxKeyLength);
        }
    }

    private async Task<IMessageSubscription> SubscribeCoreAsync<T>(RedisChannel channel, Func<PubSubMessage<T>, CancellationToken, Task> handler, SubscriptionOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var capacity = options?.QueueCapacity ?? _options.QueueCapacity;
        var policy = options?.OverflowPolicy ?? _options.OverflowPolicy;
        var concurrency = options?.MaxConcurrency ?? _options.MaxConcurrency;
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1, nameof(options));

        var multiplexer = await _connection.GetMultiplexerAsync(cancellationToken).ConfigureAwait(false);
        var subscription = new Subscription<T>(this, multiplexer.GetSubscriber(), channel, handler, capacity, policy, concurrency);
        await subscription.StartAsync(cancellationToken).ConfigureAwait(false);
        return subscription;
    }

    private readonly record struct Received(RedisChannel Channel, RedisValue Message);

    private sealed class Subscription<T> : IMessageSubscription
    {
        private readonly MessageBus _bus;
        private readonly Func<PubSubMessage<T>, CancellationToken, Task> _handler;
        private readonly Channel<Received> _queue;
        private readonly ISubscriber _subscriber;
        private readonly RedisChannel _channel;
        private readonly Action<RedisChannel, RedisValue> _callback;
        private readonly CancellationTokenSource _stopping = new();
        private readonly PubSubOverflowPolicy _policy;
        private readonly int _concurrency;
        private ChannelMessageQueue? _source;
        private Task _readers = Task.CompletedTask;
        private long _dropped;
        private int _disposed;

        public Subscription(MessageBus bus, ISubscriber subscriber, RedisChannel channel, Func<PubSubMessage<T>, CancellationToken, Task> handler, int capacity, PubSubOverflowPolicy policy, int concurrency)
        {
            _bus = bus;
            _subscriber = subscriber;
            _channel = channel;
            _handler = handler;
            _policy = policy;
            _concurrency = concurrency;
            RedisChannel = channel.ToString();
            var mode = policy switch
            {
                PubSubOverflowPolicy.DropOldest => BoundedChannelFullMode.DropOldest,
                PubSubOverflowPolicy.DropNewest => BoundedChannelFullMode.DropNewest,
                _ => BoundedChannelFullMode.DropWrite,
            };
            _queue = Channel.CreateBounded<Received>(
                new BoundedChannelOptions(capacity) { FullMode = mode, SingleReader = concurrency == 1, SingleWriter = concurrency == 1 },
                OnDropped);
            _callback = (from, value) => _queue.Writer.TryWrite(new Received(from, value));
        }

        public string RedisChannel { get; }

        public long Dropped => Interlocked.Read(ref _dropped);

        public int Queued => _queue.Reader.CanCount ? _queue.Reader.Count : 0;

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            if (_concurrency == 1)
            {
                // Ordered: ChannelMessageQueue calls this sequentially, in arrival order. It must never block.
                var source = await _subscriber.SubscribeAsync(_channel).WaitAsync(cancellationToken).ConfigureAwait(false);
                source.OnMessage(message => _queue.Writer.TryWrite(new Received(message.Channel, message.Message)));
                _source = source;
            }
            else
            {
                // Unordered: the connection's callbacks may run concurrently, which is fine here and saves a hop.
                await _subscriber.SubscribeAsync(_channel, _callback).WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            var readers = new Task[_concurrency];
            for (var i = 0; i < readers.Length; i++)
            {
                readers[i] = Task.Run(ReadAsync, CancellationToken.None);
            }

            _readers = Task.WhenAll(readers);
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            try
            {
                if (_source is not null)
                {
                    await _source.UnsubscribeAsync().ConfigureAwait(false);
                }
                else
                {
                    await _subscriber.UnsubscribeAsync(_channel, _callback).ConfigureAwait(false);
                }
            }
            catch (RedisException ex)
            {
                // The connection removes the handler locally even when Redis cannot be told.
                LogUnsubscribeFailed(_bus._logger, RedisChannel, ex);
            }

            _queue.Writer.TryComplete();
            await _stopping.CancelAsync().ConfigureAwait(false);
            await _readers.ConfigureAwait(false);
            _stopping.Dispose();
        }

        private void OnDropped(Received message)
        {
            Interlocked.Increment(ref _dropped);
            var counter = _bus._metrics.Dropped;
            if (counter.Enabled)
            {
                counter.Add(1, new KeyValuePair<string, object?>("policy", PolicyTag(_policy)));
            }
        }

        private static string PolicyTag(PubSubOverflowPolicy policy) => policy switch
        {
            PubSubOverflowPolicy.DropOldest => "drop_oldest",
            PubSubOverflowPolicy.DropNewest => "drop_newest",
            _ => "drop_incoming",
        };

        private async Task ReadAsync()
        {
            var token = _stopping.Token;
            try
            {
                while (await _queue.Reader.WaitToReadAsync(token).ConfigureAwait(false))
                {
                    while (!token.IsCancellationRequested && _queue.Reader.TryRead(out var message))
                    {
                        await HandleAsync(message, token).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // Unsubscribed: queued messages are discarded.
            }
        }

        private async Task HandleAsync(Received message, CancellationToken token)
        {
            T? value;
            var channel = _bus.ToApplicationChannel(message.Channel.ToString());
            try
            {
                value = _bus._serializer.Deserialize<T>((byte[])message.Message!);
            }
            catch (RedisSerializationException ex)
            {
                _bus._metrics.Invalid.Add(1);
                LogInvalidMessage(_bus._logger, RedisChannel, typeof(T).Name, ex);
                return;
            }

            try
            {
                await _handler(new PubSubMessage<T>(channel, value), token).ConfigureAwait(false);
                _bus._metrics.Handled.Add(1);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                throw;
            }
#pragma warning disable CA1031 // A handler's failure must not stop the subscription or reach other handlers.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _bus._metrics.HandlerErrors.Add(1);
                LogHandlerFailed(_bus._logger, RedisChannel, typeof(T).Name, ex);
            }
        }
    }
}

using System.Diagnostics.Metrics;

namespace RedisKit.Samples.Shop.Infrastructure;

/// <summary>
/// The sample's own figures: plain counters for <c>/admin/stats</c> and the same values as
/// instruments of the <c>RedisKit.Samples.Shop</c> meter for <c>/metrics</c>.
/// </summary>
public sealed class ShopMetrics
{
    public const string MeterName = "RedisKit.Samples.Shop";

    private readonly Counter<long> _requests;
    private readonly Counter<long> _rejections;
    private readonly Counter<long> _cacheLookups;
    private readonly Counter<long> _productViews;
    private long _requestCount;
    private long _rejectionCount;
    private long _cacheHits;
    private long _cacheMisses;
    private long _eventStreamClients;
    private long _ordersPublished;

    public ShopMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("shop.requests", description: "HTTP requests served");
        _rejections = meter.CreateCounter<long>("shop.rate_limit.rejections", description: "Requests answered 429");
        _cacheLookups = meter.CreateCounter<long>("shop.cache.lookups", description: "Product cache lookups by result");
        _productViews = meter.CreateCounter<long>("shop.product_views", description: "Product views by outcome: queued on the write-behind queue, or not counted (Redis unavailable)");
        meter.CreateObservableUpDownCounter("shop.events.clients", () => Interlocked.Read(ref _eventStreamClients), description: "Open /orders/events streams");
    }

    public long Requests => Interlocked.Read(ref _requestCount);

    public long Rejections => Interlocked.Read(ref _rejectionCount);

    public long CacheHits => Interlocked.Read(ref _cacheHits);

    public long CacheMisses => Interlocked.Read(ref _cacheMisses);

    public long EventStreamClients => Interlocked.Read(ref _eventStreamClients);

    public long OrdersPublished => Interlocked.Read(ref _ordersPublished);

    public void Request()
    {
        Interlocked.Increment(ref _requestCount);
        _requests.Add(1);
    }

    public void Rejection(string policy)
    {
        Interlocked.Increment(ref _rejectionCount);
        if (_rejections.Enabled)
        {
            _rejections.Add(1, new KeyValuePair<string, object?>("policy", policy));
        }
    }

    public void CacheLookup(bool hit)
    {
        Interlocked.Increment(ref hit ? ref _cacheHits : ref _cacheMisses);
        if (_cacheLookups.Enabled)
        {
            _cacheLookups.Add(1, new KeyValuePair<string, object?>("result", hit ? "hit" : "miss"));
        }
    }

    /// <summary>Records a product view: <paramref name="queued"/> when the write-behind queue accepted it.</summary>
    public void ProductView(bool queued)
    {
        if (_productViews.Enabled)
        {
            _productViews.Add(1, new KeyValuePair<string, object?>("outcome", queued ? "queued" : "not_counted"));
        }
    }

    public long EventStreamOpened() => Interlocked.Increment(ref _eventStreamClients);

    public long EventStreamClosed() => Interlocked.Decrement(ref _eventStreamClients);

    public void OrderEventPublished() => Interlocked.Increment(ref _ordersPublished);
}

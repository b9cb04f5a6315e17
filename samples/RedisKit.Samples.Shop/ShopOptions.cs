namespace RedisKit.Samples.Shop;

/// <summary>The sample's settings (section <c>Shop</c>).</summary>
public sealed class ShopOptions
{
    public const string SectionName = "Shop";

    /// <summary>API requests per client (user, else address) per minute.</summary>
    public int ApiRequestsPerMinute { get; set; } = 100;

    /// <summary>Login attempts per client address and username per <see cref="LoginWindowMinutes"/>.</summary>
    public int LoginAttempts { get; set; } = 5;

    public int LoginWindowMinutes { get; set; } = 15;

    /// <summary>
    /// Reverse proxies (addresses or CIDR networks) whose <c>X-Forwarded-For</c> is believed when finding the
    /// client for rate limits (<c>Shop:TrustedProxies:0=10.0.0.0/8</c>). Default: none, the connection's address is the client.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>A session expires after this long without use.</summary>
    public int SessionIdleMinutes { get; set; } = 30;

    /// <summary>An order that leaves a product with fewer units than this publishes a low-stock event.</summary>
    public int LowStockThreshold { get; set; } = 10;

    /// <summary>Largest accepted request body.</summary>
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Serve /admin/stats and /admin/dashboard without the admin role (for a local demo or a
    /// wall screen). Default: on in Development, off elsewhere.
    /// </summary>
    public bool? AnonymousAdminStats { get; set; }

    /// <summary>How often pending product-view counts are written to product_views.</summary>
    public int ViewFlushIntervalMilliseconds { get; set; } = 1000;

    /// <summary>
    /// How long a payments stream entry may stay unacknowledged with a consumer before another instance
    /// claims it (the consumer died or hung). Lower it only with <see cref="PaymentLockExpirySeconds"/>.
    /// </summary>
    public int PaymentClaimIdleSeconds { get; set; } = 30;

    /// <summary>Payments one instance charges at a time (the stream consumer's concurrency).</summary>
    public int PaymentConcurrency { get; set; } = 4;

    /// <summary>
    /// Expiry of the per-payment lock. The holder extends it while it works, so it only bounds how long a
    /// crashed holder blocks the payment (and the claim of its entry) before another worker may charge it.
    /// </summary>
    public int PaymentLockExpirySeconds { get; set; } = 30;

    /// <summary>
    /// A payment still pending this long after it was created is added to the stream again (with its
    /// idempotency key, so an entry that exists is not duplicated). This covers a request that stored the
    /// payment and then lost Redis before adding the entry. 0 turns the re-queue off.
    /// </summary>
    public int PaymentRequeueAfterSeconds { get; set; } = 60;

    /// <summary>
    /// Simulated latency of the payment gateway call between the fenced claim and the fenced commit
    /// (0 = none). The reliability runs use it to have payments in flight when a process is killed.
    /// </summary>
    public int PaymentGatewayLatencyMilliseconds { get; set; }
}

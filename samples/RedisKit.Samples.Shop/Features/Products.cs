using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Infrastructure;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Features;

public sealed record ProductDto(long Id, string Name, string Category, string Description, decimal Price, int Stock, DateTime UpdatedAt)
{
    public static ProductDto From(Product p) => new(p.Id, p.Name, p.Category, p.Description, p.PriceCents / 100m, p.Stock, p.UpdatedAt);
}

public sealed record ProductPage(int Page, int Limit, string? Category, long Total, IReadOnlyList<ProductDto> Items);

public sealed record ProductWrite(string? Name, string? Category, string? Description, decimal? Price, int? Stock);

public sealed record ProductViews(long ProductId, long Views);

/// <summary>One product view, queued for the analytics table (seed 001's analytics queue).</summary>
public sealed record ProductViewed(long ProductId);

/// <summary>
/// Drains the durable write-behind queue of views into product_views in batches: one upsert per
/// product per batch. Delivery is at-least-once, so after a crash a batch may be counted twice;
/// for view analytics that is the accepted trade-off (see docs/caching.md).
/// </summary>
public sealed class ProductViewSink(IServiceScopeFactory scopes, ILogger<ProductViewSink> logger) : IWriteBehindSink<ProductViewed>
{
    public async Task WriteBatchAsync(IReadOnlyList<ProductViewed> items, CancellationToken cancellationToken)
    {
        var byProduct = items.GroupBy(v => v.ProductId).ToDictionary(g => g.Key, g => (long)g.Count());
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        // One atomic upsert per product, in one transaction. Instances drain the shared queue concurrently: a
        // read-then-write would lose one instance's increment, and two inserts of a new product would collide.
        // The statement is valid in SQLite and PostgreSQL.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        foreach (var (productId, views) in byProduct)
        {
            await db.Database.ExecuteSqlInterpolatedAsync(
                $"INSERT INTO product_views (product_id, count) VALUES ({productId}, {views}) ON CONFLICT (product_id) DO UPDATE SET count = product_views.count + excluded.count",
                cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        ShopLog.ViewsFlushed(logger, byProduct.Count, byProduct.Values.Sum());
    }
}

public static class Products
{
    public const int MaxPage = 10_000;
    public const int MaxLimit = 100;

    /// <summary>Every cached product list carries this tag: a write to any product evicts them all in O(1).</summary>
    public const string ListsTag = "product-lists";

    private const string CategoriesKey = "products:categories";

    private static readonly CacheEntryOptions ItemOptions = new()
    {
        Duration = TimeSpan.FromMinutes(5),
        Jitter = TimeSpan.FromSeconds(30),
        NegativeDuration = TimeSpan.FromSeconds(30),
        EagerRefreshThreshold = 0.9,
        FactorySoftTimeout = TimeSpan.FromMilliseconds(500),
    };

    private static readonly CacheEntryOptions ListOptions = new() { Duration = TimeSpan.FromSeconds(60), FactorySoftTimeout = TimeSpan.FromMilliseconds(500) };

    public static string ItemKey(long id) => "product:" + id.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// After a database write: drop the products' entries and every list, on every instance. The
    /// write is already committed, so a Redis failure here is logged, not returned to the client;
    /// other instances stop trusting their L1 within RedisKit:Caching:L1TrustWhileDisconnected.
    /// </summary>
    public static async Task InvalidateAsync(IRedisCache cache, ILogger logger, IEnumerable<long> productIds, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var id in productIds)
            {
                await cache.RemoveAsync(ItemKey(id), cancellationToken);
            }

            await cache.RemoveByTagAsync(ListsTag, cancellationToken);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            ShopLog.CacheInvalidationFailed(logger, ex);
        }
    }

    public static IEndpointRouteBuilder MapProducts(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/products").WithTags("Products").RequireApiRateLimit();

        group.MapGet("", ListAsync)
            .WithSummary("A page of products, optionally of one category. X-Cache says HIT or MISS.")
            .ProducesValidationProblem();
        group.MapGet("/{id:long}", GetAsync)
            .WithSummary("One product. Counts a view; remembers it for the signed-in user.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{id:long}/views", ViewsAsync)
            .WithSummary("Total views of a product (counted through the write-behind queue; about a second behind).")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("", CreateAsync)
            .RequireAuthorization(Auth.AdminPolicy)
            .WithSummary("Creates a product (admin).")
            .ProducesValidationProblem();
        group.MapPut("/{id:long}", UpdateAsync)
            .RequireAuthorization(Auth.AdminPolicy)
            .WithSummary("Updates a product (admin).")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        return routes;
    }

    private static async Task<IResult> ListAsync(string? page, string? limit, string? category, HttpContext http, IRedisCache cache, IServiceScopeFactory scopes, ShopMetrics metrics)
    {
        var errors = new Problems.Errors();
        Problems.TryBound(page, "page", 1, 1, MaxPage, errors, out var pageNumber);
        Problems.TryBound(limit, "limit", 20, 1, MaxLimit, errors, out var pageSize);
        category = string.IsNullOrWhiteSpace(category) ? null : category.Trim().ToLowerInvariant();
        errors.Require(category is null || (category.Length <= 64 && category.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')), "category", "'category' must be at most 64 letters, digits or '-'.");
        if (errors.Any)
        {
            return errors.ToResult();
        }

        // The key holds the normalised query; only known categories are cached, so hostile input cannot
        // grow the key space (pages and limits are bounded above).
        var categories = await cache.GetOrSetAsync(CategoriesKey, async ct =>
        {
            await using var scope = scopes.CreateAsyncScope();
            var read = scope.ServiceProvider.GetRequiredService<ShopDb>();
            return await read.Products.AsNoTracking().Select(p => p.Category).Distinct().ToListAsync(ct);
        }, ListOptions, [ListsTag], http.RequestAborted);
        if (category is not null && !categories.Contains(category))
        {
            metrics.CacheLookup(hit: true);
            http.Response.Headers["X-Cache"] = "HIT";
            return TypedResults.Ok(new ProductPage(pageNumber, pageSize, category, 0, []));
        }

        var miss = false;
        var key = string.Create(CultureInfo.InvariantCulture, $"products:list:{category ?? "*"}:{pageNumber}:{pageSize}");
        var result = await cache.GetOrSetAsync(key, async ct =>
        {
            miss = true;
            await using var scope = scopes.CreateAsyncScope();
            var read = scope.ServiceProvider.GetRequiredService<ShopDb>();
            var query = read.Products.AsNoTracking();
            if (category is not null)
            {
                query = query.Where(p => p.Category == category);
            }

            var total = await query.LongCountAsync(ct);
            var items = await query.OrderBy(p => p.Id).Skip((pageNumber - 1) * pageSize).Take(pageSize).ToListAsync(ct);
            return new ProductPage(pageNumber, pageSize, category, total, items.Select(ProductDto.From).ToList());
        }, ListOptions, [ListsTag], http.RequestAborted);
        metrics.CacheLookup(hit: !miss);
        http.Response.Headers["X-Cache"] = miss ? "MISS" : "HIT";
        return TypedResults.Ok(result);
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, IRedisCache cache, IServiceScopeFactory scopes, ShopMetrics metrics, IWriteBehindQueue<ProductViewed> views, RecentlyViewed recent, ILogger<ProductViewSink> logger)
    {
        // Cache-aside with a short negative entry for "not found". The factory opens its own scope: it
        // may finish in the background (soft timeout, eager refresh) after this request has ended.
        var miss = false;
        var product = await cache.GetOrSetAsync<ProductDto?>(ItemKey(id), async (ctx, ct) =>
        {
            miss = true;
            await using var scope = scopes.CreateAsyncScope();
            var read = scope.ServiceProvider.GetRequiredService<ShopDb>();
            var found = await read.Products.AsNoTracking().FirstOrDefaultAsync(p => p.Id == id, ct);
            if (found is null)
            {
                ctx.NotFound();
                return null;
            }

            return ProductDto.From(found);
        }, ItemOptions, cancellationToken: http.RequestAborted);
        metrics.CacheLookup(hit: !miss);
        http.Response.Headers["X-Cache"] = miss ? "MISS" : "HIT";
        if (product is null)
        {
            return Problems.NotFound($"Product {id} does not exist.");
        }

        try
        {
            await views.EnqueueAsync(new ProductViewed(id), http.RequestAborted);
            metrics.ProductView(queued: true);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // A lost view count must not fail a product page.
            metrics.ProductView(queued: false);
            ShopLog.ViewNotCounted(logger, ex);
        }

        if (http.User.Identity?.IsAuthenticated == true)
        {
            await recent.AddAsync(http.User.UserId(), id, http.RequestAborted);
        }

        return TypedResults.Ok(product);
    }

    private static async Task<IResult> ViewsAsync(long id, HttpContext http, ShopDb db)
    {
        if (!await db.Products.AnyAsync(p => p.Id == id, http.RequestAborted))
        {
            return Problems.NotFound($"Product {id} does not exist.");
        }

        // Views reach the table through the write-behind queue within about a flush interval.
        var flushed = await db.ProductViews.Where(v => v.ProductId == id).Select(v => v.Count).FirstOrDefaultAsync(http.RequestAborted);
        return TypedResults.Ok(new ProductViews(id, flushed));
    }

    private static async Task<IResult> CreateAsync(ProductWrite body, HttpContext http, ShopDb db, TimeProvider time, IRedisCache cache, ILogger<ProductViewSink> logger)
    {
        var errors = Validate(body, partial: false);
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var product = new Product { UpdatedAt = time.GetUtcNow().UtcDateTime };
        Apply(product, body);
        db.Products.Add(product);
        await db.SaveChangesAsync(http.RequestAborted);
        await InvalidateAsync(cache, logger, [], http.RequestAborted);
        return TypedResults.Created($"/products/{product.Id.ToString(CultureInfo.InvariantCulture)}", ProductDto.From(product));
    }

    private static async Task<IResult> UpdateAsync(long id, ProductWrite body, HttpContext http, ShopDb db, TimeProvider time, IRedisCache cache, ILogger<ProductViewSink> logger)
    {
        var errors = Validate(body, partial: true);
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var product = await db.Products.FirstOrDefaultAsync(p => p.Id == id, http.RequestAborted);
        if (product is null)
        {
            return Problems.NotFound($"Product {id} does not exist.");
        }

        Apply(product, body);
        product.UpdatedAt = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(http.RequestAborted);
        await InvalidateAsync(cache, logger, [id], http.RequestAborted);
        return TypedResults.Ok(ProductDto.From(product));
    }

    private static Problems.Errors Validate(ProductWrite body, bool partial) => new Problems.Errors()
        .Require((partial && body.Name is null) || (!string.IsNullOrWhiteSpace(body.Name) && body.Name.Length <= 200 && !body.Name.Any(char.IsControl)), "name", "'name' is required, at most 200 characters, no control characters.")
        .Require((partial && body.Category is null) || (!string.IsNullOrWhiteSpace(body.Category) && body.Category.Length <= 64 && body.Category.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')), "category", "'category' is required: at most 64 letters, digits or '-'.")
        .Require(body.Description is null || (body.Description.Length <= 2000 && !body.Description.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t'))), "description", "'description' is at most 2000 characters; no control characters but line breaks and tabs.")
        .Require((partial && body.Price is null) || body.Price is >= 0 and <= 1_000_000, "price", "'price' is required, from 0 to 1000000.")
        .Require((partial && body.Stock is null) || body.Stock is >= 0 and <= 1_000_000, "stock", "'stock' is required, from 0 to 1000000.");

    private static void Apply(Product product, ProductWrite body)
    {
        if (body.Name is not null)
        {
            product.Name = body.Name.Trim();
        }

        if (body.Category is not null)
        {
            product.Category = body.Category.Trim().ToLowerInvariant();
        }

        if (body.Description is not null)
        {
            product.Description = body.Description;
        }

        if (body.Price is { } price)
        {
            product.PriceCents = (long)Math.Round(price * 100m, MidpointRounding.AwayFromZero);
        }

        if (body.Stock is { } stock)
        {
            product.Stock = stock;
        }
    }
}

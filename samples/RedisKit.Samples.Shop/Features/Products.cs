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

/// <summary>
/// Counts product views: each view is one HINCRBY on a pending hash in Redis; a background flush moves
/// the pending counts to product_views in one batch (RENAME makes the batch this instance's alone).
/// </summary>
// Capability seam: replaced by RedisKit write-behind queue (messaging) when merged
public sealed class ViewCounter(IRedisConnection redis)
{
    public RedisKey PendingKey => redis.Keys.Key("sample", "views", "pending");

    public async Task CountAsync(long productId, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        await db.HashIncrementAsync(PendingKey, productId);
    }

    public async Task<long> PendingAsync(long productId, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        return (long)(await db.HashGetAsync(PendingKey, productId) is { IsNull: false } v ? (long)v : 0);
    }

    /// <summary>Takes the pending counts (RENAME to a key of this flush) and returns them.</summary>
    public async Task<(RedisKey Batch, HashEntry[] Counts)> TakeAsync(CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        var batch = redis.Keys.Key("sample", "views", "flushing", Guid.NewGuid().ToString("N"));
        if (!await db.KeyExistsAsync(PendingKey))
        {
            return (batch, []);
        }

        try
        {
            await db.KeyRenameAsync(PendingKey, batch);
        }
        catch (RedisServerException)
        {
            // Another instance took it between EXISTS and RENAME ("no such key").
            return (batch, []);
        }

        return (batch, await db.HashGetAllAsync(batch));
    }

    public async Task CompleteAsync(RedisKey batch, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        await db.KeyDeleteAsync(batch);
    }
}

/// <summary>Writes pending view counts to product_views every second.</summary>
// Capability seam: replaced by RedisKit write-behind queue (messaging) when merged
public sealed class ViewFlusher(ViewCounter counter, IServiceScopeFactory scopes, IOptions<ShopOptions> options, ILogger<ViewFlusher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.ViewFlushIntervalMilliseconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, stoppingToken);
                await FlushAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                ShopLog.ViewsFlushFailed(logger, ex);
            }
        }
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        var (batch, counts) = await counter.TakeAsync(cancellationToken);
        if (counts.Length == 0)
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        var byProduct = counts.ToDictionary(c => (long)c.Name, c => (long)c.Value);
        var ids = byProduct.Keys.ToArray();
        var existing = await db.ProductViews.Where(v => ids.Contains(v.ProductId)).ToDictionaryAsync(v => v.ProductId, cancellationToken);
        foreach (var (productId, views) in byProduct)
        {
            if (existing.TryGetValue(productId, out var row))
            {
                row.Count += views;
            }
            else
            {
                db.ProductViews.Add(new ProductView { ProductId = productId, Count = views });
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        await counter.CompleteAsync(batch, cancellationToken);
        ShopLog.ViewsFlushed(logger, byProduct.Count, byProduct.Values.Sum());
    }
}

public static class Products
{
    public const int MaxPage = 10_000;
    public const int MaxLimit = 100;

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
            .WithSummary("Total views of a product (flushed + pending).")
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

    private static async Task<IResult> ListAsync(string? page, string? limit, string? category, HttpContext http, ShopDb db, ShopMetrics metrics)
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

        // Capability seam: replaced by RedisKit caching when merged
        var query = db.Products.AsNoTracking();
        if (category is not null)
        {
            query = query.Where(p => p.Category == category);
        }

        var total = await query.LongCountAsync(http.RequestAborted);
        var items = await query.OrderBy(p => p.Id).Skip((pageNumber - 1) * pageSize).Take(pageSize).ToListAsync(http.RequestAborted);
        metrics.CacheLookup(hit: false);
        http.Response.Headers["X-Cache"] = "MISS";
        return TypedResults.Ok(new ProductPage(pageNumber, pageSize, category, total, items.Select(ProductDto.From).ToList()));
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, ShopDb db, ShopMetrics metrics, ViewCounter views, RecentlyViewed recent)
    {
        // Capability seam: replaced by RedisKit caching when merged
        var product = await db.Products.AsNoTracking().FirstOrDefaultAsync(p => p.Id == id, http.RequestAborted);
        metrics.CacheLookup(hit: false);
        http.Response.Headers["X-Cache"] = "MISS";
        if (product is null)
        {
            return Problems.NotFound($"Product {id} does not exist.");
        }

        await views.CountAsync(id, http.RequestAborted);
        if (http.User.Identity?.IsAuthenticated == true)
        {
            await recent.AddAsync(http.User.UserId(), id, http.RequestAborted);
        }

        return TypedResults.Ok(ProductDto.From(product));
    }

    private static async Task<IResult> ViewsAsync(long id, HttpContext http, ShopDb db, ViewCounter views)
    {
        if (!await db.Products.AnyAsync(p => p.Id == id, http.RequestAborted))
        {
            return Problems.NotFound($"Product {id} does not exist.");
        }

        var flushed = await db.ProductViews.Where(v => v.ProductId == id).Select(v => v.Count).FirstOrDefaultAsync(http.RequestAborted);
        var pending = await views.PendingAsync(id, http.RequestAborted);
        return TypedResults.Ok(new ProductViews(id, flushed + pending));
    }

    private static async Task<IResult> CreateAsync(ProductWrite body, HttpContext http, ShopDb db, TimeProvider time)
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
        // Capability seam: replaced by RedisKit caching when merged (invalidate the list tag here)
        return TypedResults.Created($"/products/{product.Id.ToString(CultureInfo.InvariantCulture)}", ProductDto.From(product));
    }

    private static async Task<IResult> UpdateAsync(long id, ProductWrite body, HttpContext http, ShopDb db, TimeProvider time)
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
        // Capability seam: replaced by RedisKit caching when merged (invalidate the item and list tags here)
        return TypedResults.Ok(ProductDto.From(product));
    }

    private static Problems.Errors Validate(ProductWrite body, bool partial) => new Problems.Errors()
        .Require((partial && body.Name is null) || (!string.IsNullOrWhiteSpace(body.Name) && body.Name.Length <= 200), "name", "'name' is required, at most 200 characters.")
        .Require((partial && body.Category is null) || (!string.IsNullOrWhiteSpace(body.Category) && body.Category.Length <= 64 && body.Category.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')), "category", "'category' is required: at most 64 letters, digits or '-'.")
        .Require(body.Description is null || body.Description.Length <= 2000, "description", "'description' is at most 2000 characters.")
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

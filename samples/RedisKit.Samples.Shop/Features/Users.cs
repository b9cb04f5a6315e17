using System.Globalization;
using Microsoft.EntityFrameworkCore;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Infrastructure;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Features;

public sealed record MeResponse(long Id, string Username, string DisplayName, string Email, string Role);

public sealed record ProfileResponse(long Id, string Username, string DisplayName, DateTime MemberSince, long Orders, string Source);

/// <summary>The last 10 products a signed-in user viewed: a capped Redis list per user.</summary>
// Capability seam: replaced by RedisKit sessions when merged
public sealed class RecentlyViewed(IRedisConnection redis)
{
    public const int Size = 10;

    public async Task AddAsync(long userId, long productId, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        var key = Key(userId);
        var tx = db.CreateTransaction();
        _ = tx.ListRemoveAsync(key, productId);
        _ = tx.ListLeftPushAsync(key, productId);
        _ = tx.ListTrimAsync(key, 0, Size - 1);
        _ = tx.KeyExpireAsync(key, TimeSpan.FromDays(30));
        await tx.ExecuteAsync();
    }

    public async Task<long[]> GetAsync(long userId, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken);
        var values = await db.ListRangeAsync(Key(userId), 0, Size - 1);
        return values.Select(v => (long)v).ToArray();
    }

    private RedisKey Key(long userId) => redis.Keys.Key("sample", "recent", userId.ToString(CultureInfo.InvariantCulture));
}

public static class Users
{
    private static readonly TimeSpan ProfileTtl = TimeSpan.FromMinutes(10);

    public static IEndpointRouteBuilder MapUsers(this IEndpointRouteBuilder routes)
    {
        var me = routes.MapGroup("/me").WithTags("Users").RequireAuthorization().RequireApiRateLimit();

        me.MapGet("", async (HttpContext http, ShopDb db) =>
        {
            var id = http.User.UserId();
            var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, http.RequestAborted);
            return user is null
                ? Problems.NotFound("The signed-in user no longer exists.")
                : TypedResults.Ok(new MeResponse(user.Id, user.Username, user.DisplayName, user.Email, user.Role));
        }).WithSummary("The signed-in user.");

        me.MapGet("/recently-viewed", async (HttpContext http, RecentlyViewed recent, ShopDb db) =>
        {
            var ids = await recent.GetAsync(http.User.UserId(), http.RequestAborted);
            var products = await db.Products.AsNoTracking().Where(p => ids.Contains(p.Id)).ToDictionaryAsync(p => p.Id, http.RequestAborted);
            return TypedResults.Ok(ids.Where(products.ContainsKey).Select(id => ProductDto.From(products[id])).ToList());
        }).WithSummary("The last 10 products viewed while signed in, newest first.");

        routes.MapGet("/users/{id:long}/profile", GetProfileAsync)
            .WithTags("Users")
            .RequireApiRateLimit()
            .WithSummary("A public profile, served from a Redis hash filled from the database on a miss.");

        return routes;
    }

    private static async Task<IResult> GetProfileAsync(long id, HttpContext http, IRedisConnection redis, ShopDb db)
    {
        var cache = await redis.GetDatabaseAsync(http.RequestAborted);
        var key = redis.Keys.Key("sample", "profile", id.ToString(CultureInfo.InvariantCulture));
        var fields = await cache.HashGetAllAsync(key);
        if (fields.Length > 0)
        {
            var map = fields.ToDictionary(f => f.Name.ToString(), f => f.Value);
            return TypedResults.Ok(new ProfileResponse(
                id,
                map["username"].ToString(),
                map["displayName"].ToString(),
                new DateTime((long)map["memberSince"], DateTimeKind.Utc),
                (long)map["orders"],
                "redis"));
        }

        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, http.RequestAborted);
        if (user is null)
        {
            return Problems.NotFound($"User {id} does not exist.");
        }

        var orders = await db.Orders.LongCountAsync(o => o.UserId == id, http.RequestAborted);
        var tx = cache.CreateTransaction();
        _ = tx.HashSetAsync(key,
        [
            new("username", user.Username),
            new("displayName", user.DisplayName),
            new("memberSince", user.CreatedAt.Ticks),
            new("orders", orders),
        ]);
        _ = tx.KeyExpireAsync(key, ProfileTtl);
        await tx.ExecuteAsync();
        return TypedResults.Ok(new ProfileResponse(user.Id, user.Username, user.DisplayName, user.CreatedAt, orders, "database"));
    }
}

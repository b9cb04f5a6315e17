using System.Globalization;
using Microsoft.EntityFrameworkCore;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Infrastructure;
using RedisKit.DataStructures;

namespace RedisKit.Samples.Shop.Features;

public sealed record MeResponse(long Id, string Username, string DisplayName, string Email, string Role);

public sealed record ProfileResponse(long Id, string Username, string DisplayName, DateTime MemberSince, long Orders, string Source);

/// <summary>
/// The last 10 products a signed-in user viewed: a RedisKit capped recent list (de-duplicating push,
/// trim and expiry in one script).
/// </summary>
public sealed class RecentlyViewed(IRedisDataStructures structures)
{
    public const int Size = 10;

    private readonly RecentList _list = structures.RecentList("recently-viewed", new RecentListOptions { Capacity = Size, Deduplicate = true, Expiry = TimeSpan.FromDays(30) });

    public Task AddAsync(long userId, long productId, CancellationToken cancellationToken) =>
        _list.PushAsync(userId.ToString(CultureInfo.InvariantCulture), productId.ToString(CultureInfo.InvariantCulture), cancellationToken);

    public async Task<long[]> GetAsync(long userId, CancellationToken cancellationToken)
    {
        var items = await _list.GetAsync(userId.ToString(CultureInfo.InvariantCulture), cancellationToken: cancellationToken);
        return items.Select(i => long.Parse(i, CultureInfo.InvariantCulture)).ToArray();
    }
}

/// <summary>A public profile as stored in its Redis hash (one field per property).</summary>
public sealed record CachedProfile(string Username, string DisplayName, DateTime MemberSince, long Orders);

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

    private static async Task<IResult> GetProfileAsync(long id, HttpContext http, IRedisDataStructures structures, ShopDb db)
    {
        var profiles = structures.Hash<CachedProfile>("profiles");
        var key = id.ToString(CultureInfo.InvariantCulture);
        if (await profiles.GetAsync(key, http.RequestAborted) is { } cached)
        {
            return TypedResults.Ok(new ProfileResponse(id, cached.Username, cached.DisplayName, cached.MemberSince, cached.Orders, "redis"));
        }

        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, http.RequestAborted);
        if (user is null)
        {
            return Problems.NotFound($"User {id} does not exist.");
        }

        var orders = await db.Orders.LongCountAsync(o => o.UserId == id, http.RequestAborted);
        await profiles.SetAsync(key, new CachedProfile(user.Username, user.DisplayName, DateTime.SpecifyKind(user.CreatedAt, DateTimeKind.Utc), orders), ProfileTtl, http.RequestAborted);
        return TypedResults.Ok(new ProfileResponse(user.Id, user.Username, user.DisplayName, user.CreatedAt, orders, "database"));
    }
}

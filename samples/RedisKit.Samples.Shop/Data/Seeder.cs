using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace RedisKit.Samples.Shop.Data;

/// <summary>Creates the schema and fills an empty database with deterministic demo data.</summary>
public static class Seeder
{
    public const int ProductCount = 1000;

    public static readonly string[] Categories = ["books", "electronics", "garden", "kitchen", "music", "sports", "toys", "games"];

    private static readonly string[] Adjectives = ["Classic", "Compact", "Deluxe", "Eco", "Essential", "Pro", "Smart", "Vintage", "Wireless", "Ultra"];

    private static readonly string[] Nouns = ["Lamp", "Kettle", "Headphones", "Novel", "Racket", "Puzzle", "Planter", "Speaker", "Backpack", "Board Game"];

    /// <summary>The demo accounts (username, password, role). Printed at start in Development.</summary>
    public static readonly (string Username, string Password, string Role, string DisplayName)[] DemoUsers =
    [
        ("admin", "admin-pass-2026", Roles.Admin, "Shop Admin"),
        ("alice", "alice-pass-2026", Roles.User, "Alice Martin"),
        ("bob", "bob-pass-2026", Roles.User, "Bob Chen"),
        ("carol", "carol-pass-2026", Roles.User, "Carol Diaz"),
    ];

    /// <summary>
    /// EnsureCreated rather than migrations: the sample's schema is created from the model on an empty
    /// database (SQLite file or a fresh PostgreSQL database) and never evolves in place; a real service
    /// would ship EF migrations instead.
    /// </summary>
    public static async Task<(bool Created, int Products, int Users)> EnsureSeededAsync(ShopDb db, TimeProvider time, CancellationToken cancellationToken)
    {
        var created = await db.Database.EnsureCreatedAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        if (!await db.Products.AnyAsync(cancellationToken))
        {
            db.Products.AddRange(GenerateProducts(now));
        }

        if (!await db.Users.AnyAsync(cancellationToken))
        {
            var hasher = new PasswordHasher<User>();
            foreach (var (username, password, role, displayName) in DemoUsers)
            {
                var user = new User
                {
                    Username = username,
                    DisplayName = displayName,
                    Email = $"{username}@shop.example",
                    Role = role,
                    CreatedAt = now,
                };
                user.PasswordHash = hasher.HashPassword(user, password);
                db.Users.Add(user);
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        return (created, await db.Products.CountAsync(cancellationToken), await db.Users.CountAsync(cancellationToken));
    }

    /// <summary>Product i (1-based) is the same on every run: arithmetic, no random generator.</summary>
    public static IEnumerable<Product> GenerateProducts(DateTime now)
    {
        for (var i = 1; i <= ProductCount; i++)
        {
            var category = Categories[i % Categories.Length];
            yield return new Product
            {
                Name = $"{Adjectives[i * 7 % Adjectives.Length]} {Nouns[i * 3 % Nouns.Length]} #{i}",
                Category = category,
                Description = $"A {category} item, number {i} of the demo catalogue.",
                PriceCents = 199 + (i * 7919L % 49_800),
                Stock = 5 + (i * 37 % 200),
                UpdatedAt = now,
            };
        }
    }
}

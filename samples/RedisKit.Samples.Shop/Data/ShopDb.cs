using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace RedisKit.Samples.Shop.Data;

/// <summary>The shop's relational store: SQLite by default, PostgreSQL when configured.</summary>
public sealed class ShopDb(DbContextOptions<ShopDb> options) : DbContext(options)
{
    public DbSet<Product> Products => Set<Product>();

    public DbSet<User> Users => Set<User>();

    public DbSet<Order> Orders => Set<Order>();

    public DbSet<OrderItem> OrderItems => Set<OrderItem>();

    public DbSet<Payment> Payments => Set<Payment>();

    public DbSet<ProductView> ProductViews => Set<ProductView>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Product>(e =>
        {
            e.ToTable("products");
            e.Property(p => p.Name).HasMaxLength(200);
            e.Property(p => p.Category).HasMaxLength(64);
            e.Property(p => p.Description).HasMaxLength(2000);
            e.HasIndex(p => p.Category);
        });
        modelBuilder.Entity<User>(e =>
        {
            e.ToTable("users");
            e.Property(u => u.Username).HasMaxLength(64);
            e.HasIndex(u => u.Username).IsUnique();
        });
        modelBuilder.Entity<Order>(e =>
        {
            e.ToTable("orders");
            e.HasMany(o => o.Items).WithOne().HasForeignKey(i => i.OrderId);
        });
        modelBuilder.Entity<OrderItem>(e => e.ToTable("order_items"));
        modelBuilder.Entity<Payment>(e =>
        {
            e.ToTable("payments");
            e.HasIndex(p => p.OrderId);
        });
        modelBuilder.Entity<ProductView>(e =>
        {
            e.ToTable("product_views");
            e.HasKey(v => v.ProductId);
            e.Property(v => v.ProductId).ValueGeneratedNever();
        });

        // snake_case columns, as the tables are; every DateTime is UTC (SQLite stores no kind).
        var utc = new ValueConverter<DateTime, DateTime>(v => v, v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
        var utcNullable = new ValueConverter<DateTime?, DateTime?>(v => v, v => v.HasValue ? DateTime.SpecifyKind(v.Value, DateTimeKind.Utc) : v);
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
            {
                property.SetColumnName(SnakeCase(property.Name));
                if (property.ClrType == typeof(DateTime))
                {
                    property.SetValueConverter(utc);
                }
                else if (property.ClrType == typeof(DateTime?))
                {
                    property.SetValueConverter(utcNullable);
                }
            }
        }
    }

    private static string SnakeCase(string name)
    {
        var builder = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                builder.Append('_');
            }

            builder.Append(char.ToLowerInvariant(name[i]));
        }

        return builder.ToString();
    }
}

public sealed class Product
{
    public long Id { get; set; }

    public string Name { get; set; } = "";

    public string Category { get; set; } = "";

    public string Description { get; set; } = "";

    /// <summary>Price in cents (integer money; SQLite has no decimal type).</summary>
    public long PriceCents { get; set; }

    public int Stock { get; set; }

    public DateTime UpdatedAt { get; set; }
}

public sealed class User
{
    public long Id { get; set; }

    public string Username { get; set; } = "";

    public string DisplayName { get; set; } = "";

    public string Email { get; set; } = "";

    public string Role { get; set; } = Roles.User;

    public string PasswordHash { get; set; } = "";

    public DateTime CreatedAt { get; set; }
}

public static class Roles
{
    public const string Admin = "admin";
    public const string User = "user";
}

public sealed class Order
{
    public long Id { get; set; }

    public long UserId { get; set; }

    public string Status { get; set; } = OrderStatuses.Placed;

    public long TotalCents { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }

    public List<OrderItem> Items { get; set; } = [];
}

public static class OrderStatuses
{
    public const string Placed = "placed";

    public static readonly string[] All = [Placed, "paid", "shipped", "delivered", "cancelled"];
}

public sealed class OrderItem
{
    public long Id { get; set; }

    public long OrderId { get; set; }

    public long ProductId { get; set; }

    public int Quantity { get; set; }

    public long UnitPriceCents { get; set; }
}

public sealed class Payment
{
    public long Id { get; set; }

    public long OrderId { get; set; }

    public long AmountCents { get; set; }

    /// <summary>pending → charged (or failed).</summary>
    public string Status { get; set; } = PaymentStatuses.Pending;

    /// <summary>
    /// Fencing token of the worker that charged the payment: a write carrying a token lower than the
    /// stored one is refused, so a worker whose lock expired cannot charge twice.
    /// </summary>
    public long? FencingToken { get; set; }

    public int Attempts { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime? ProcessedAt { get; set; }
}

public static class PaymentStatuses
{
    public const string Pending = "pending";
    public const string Charged = "charged";
    public const string Failed = "failed";
}

public sealed class ProductView
{
    public long ProductId { get; set; }

    public long Count { get; set; }
}

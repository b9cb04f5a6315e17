using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using RedisKit.Samples.Shop.Data;
using RedisKit.Samples.Shop.Features;
using RedisKit.Samples.Shop.Infrastructure;

namespace RedisKit.Samples.Shop;

/// <summary>
/// Builds the Shop application. <c>Program</c> calls it with the command line; end-to-end tests call it
/// with <c>--urls http://127.0.0.1:0 --ConnectionStrings:redis=…</c> and run it in-process.
/// </summary>
public static class ShopApp
{
    /// <summary>The write-behind queue that carries product views to the product_views table.</summary>
    public const string ProductViewQueue = "product-views";

    /// <summary>Builds the app, creates and seeds the database, and probes Redis. Call StartAsync/RunAsync next.</summary>
    public static async Task<WebApplication> BuildAsync(string[] args, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateBuilder(args);
        var shop = builder.Configuration.GetSection(ShopOptions.SectionName).Get<ShopOptions>() ?? new ShopOptions();
        builder.Services.Configure<ShopOptions>(builder.Configuration.GetSection(ShopOptions.SectionName));

        // Redis: configured, else a private redis-server, else embedded Garnet (DevRedis says which).
        var devRedis = await DevRedis.ResolveAsync(builder.Configuration);
        builder.Services.AddSingleton(_ => devRedis); // created by a factory: disposed with the app
        builder.Services.AddRedisKit(o =>
            {
                o.ConnectionString = devRedis.ConnectionString;
                o.GarnetLuaTransactionMode = devRedis.IsGarnet;
            })
            .AddCaching()
            .AddLeaderboards()
            .AddDataStructures()
            .AddWriteBehind<ProductViewed, ProductViewSink>(ProductViewQueue, o => o.BatchSize = 500);
        builder.Services.AddOptions<WriteBehindOptions>(ProductViewQueue)
            .Configure<IOptions<ShopOptions>>((o, options) => o.PollInterval = TimeSpan.FromMilliseconds(options.Value.ViewFlushIntervalMilliseconds));

        // Database: PostgreSQL when ConnectionStrings:shop is a PostgreSQL connection string, else SQLite.
        var database = Database.Resolve(builder.Configuration, builder.Environment);
        builder.Services.AddDbContextPool<ShopDb>(o =>
        {
            if (database.IsPostgres)
            {
                o.UseNpgsql(database.ConnectionString);
            }
            else
            {
                o.UseSqlite(database.ConnectionString);
            }
        });

        // Errors: every failure is problem+json; bad input is 4xx.
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ShopExceptionHandler>();
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = false);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = shop.MaxRequestBodyBytes);
        builder.Services.Configure<JsonOptions>(o => o.SerializerOptions.MaxDepth = 32);

        // Identity: server-side sessions (cookie or bearer id) and roles.
        builder.AddShopAuth(shop); // RedisKit sessions + rate limits (Features/Auth.cs, Features/RateLimits.cs)
        var anonymousStats = shop.AnonymousAdminStats ?? builder.Environment.IsDevelopment();
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(Auth.AdminPolicy, p => p.RequireRole(Roles.Admin))
            .AddPolicy(Admin.AdminOrOpenStatsPolicy, p => p.RequireAssertion(c => anonymousStats || c.User.IsInRole(Roles.Admin)));

        // Feature services (docs/sample.md says which RedisKit capability serves each).
        builder.Services.AddSingleton<ShopMetrics>();
        builder.Services.AddSingleton<RecentlyViewed>();
        builder.AddShopMessaging(streams: !devRedis.IsGarnet); // order events, payments stream, locks

        builder.Services.AddHealthChecks()
            .AddRedisKit(tags: ["ready"])
            .AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);

        builder.Services.AddOpenApi();
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(RedisKitDiagnostics.MeterName, ShopMetrics.MeterName)
            .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Routing", "Microsoft.AspNetCore.Diagnostics", "Microsoft.AspNetCore.Authentication", "Microsoft.AspNetCore.Authorization")
            // No scrape cache: two scrapes a moment apart must not return the same snapshot (the reliability
            // runs subtract scrapes to count each phase of a fault).
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));

        var app = builder.Build();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RedisKit.Samples.Shop");

        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use(async (context, next) =>
        {
            context.RequestServices.GetRequiredService<ShopMetrics>().Request();
            if (context.Request.ContentLength > shop.MaxRequestBodyBytes)
            {
                // Refuse before reading a byte (Kestrel's limit also stops chunked bodies mid-read).
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails = { Status = 413, Title = "Request body too large", Detail = $"The limit is {shop.MaxRequestBodyBytes} bytes." },
                });
                return;
            }

            await next(context);
        });
        app.UseRedisKitSessions(); // a session store failure inside an endpoint: 503 + Retry-After
        app.UseAuthentication();
        app.UseShopRateLimits();
        app.UseAuthorization();

        app.MapOpenApi();
        app.UseSwaggerUI(o =>
        {
            o.SwaggerEndpoint("/openapi/v1.json", "Shop v1");
            o.RoutePrefix = "swagger";
            o.DocumentTitle = "Shop API";
        });
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/", () => TypedResults.Redirect("/swagger")).ExcludeFromDescription();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });

        app.MapProducts();
        app.MapAuth();
        app.MapUsers();
        app.MapOrders();
        app.MapPayments();
        app.MapGames();
        app.MapAdmin();
        // No MapFallback: a catch-all endpoint would also catch wrong methods (405) and content types (415).
        // Unmatched routes (including ids that fail a route constraint, e.g. /products/abc) end as an empty
        // 404/405 that UseStatusCodePages turns into problem+json.

        ShopLog.RedisChosen(logger, devRedis.Description);
        await InitializeAsync(app, database, logger, cancellationToken);
        return app;
    }

    /// <summary>The addresses Kestrel listens on (after start; resolves port 0).</summary>
    public static IReadOnlyCollection<string> Addresses(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.ToList();

    private static async Task InitializeAsync(WebApplication app, Database database, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            var capabilities = await app.Services.GetRequiredService<IRedisConnection>().GetCapabilitiesAsync(cancellationToken);
            ShopLog.RedisServer(logger, capabilities.ToString());
            foreach (var limitation in capabilities.DescribeLimitations())
            {
                ShopLog.RedisLimitation(logger, limitation);
            }
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
        {
            ShopLog.RedisProbeFailed(logger, ex);
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
            var time = scope.ServiceProvider.GetRequiredService<TimeProvider>();
            var (created, products, users) = await Seeder.EnsureSeededAsync(db, time, cancellationToken);
            if (!database.IsPostgres)
            {
                // WAL: readers do not block the writer (and a second instance can share the file).
                await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
            }

            ShopLog.DatabaseReady(logger, database.IsPostgres ? "PostgreSQL" : "SQLite", database.Description, created ? "created" : "existing", products, users);
        }

        if (app.Environment.IsDevelopment())
        {
            foreach (var (username, password, role, _) in Seeder.DemoUsers)
            {
                ShopLog.DemoCredentials(logger, username, password, role);
            }
        }

    }

    private sealed record Database(bool IsPostgres, string ConnectionString, string Description)
    {
        public static Database Resolve(IConfiguration configuration, IHostEnvironment environment)
        {
            var configured = configuration.GetConnectionString("shop");
            if (!string.IsNullOrWhiteSpace(configured))
            {
                if (LooksLikePostgres(configured))
                {
                    return new Database(true, configured, "ConnectionStrings:shop");
                }

                return new Database(false, configured, "ConnectionStrings:shop");
            }

            var path = Path.Combine(environment.ContentRootPath, "shop.db");
            return new Database(false, $"Data Source={path}", path);
        }

        // Npgsql keyword form ("Host=...;Database=...;Username=..."); SQLite uses "Data Source=".
        private static bool LooksLikePostgres(string connectionString) =>
            connectionString.Contains("Host=", StringComparison.OrdinalIgnoreCase)
            && !connectionString.Contains("Data Source=", StringComparison.OrdinalIgnoreCase);
    }
}

using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using RedisKit.Samples.Shop;
using RedisKit.Testing;

namespace RedisKit.Samples.Shop.Tests;

/// <summary>
/// One real redis-server, one temp SQLite file and two instances of the real Shop app on loopback
/// ports sharing both (instance B serves /admin/stats without the admin role, for the browser test).
/// Keys are isolated by a fresh prefix; nothing is flushed.
/// </summary>
public sealed class ShopFixture : IAsyncLifetime
{
    public const string AdminPassword = "admin-pass-2026";
    public const string AlicePassword = "alice-pass-2026";
    public const string BobPassword = "bob-pass-2026";

    private readonly string _directory = Directory.CreateTempSubdirectory("shop-tests-").FullName;
    private RedisServerProcess? _redis;
    private WebApplication? _a;
    private WebApplication? _b;

    public Uri A { get; private set; } = null!;

    public Uri B { get; private set; } = null!;

    public RedisServerProcess Redis => _redis!;

    /// <summary>Instance A's services (for tests that act below HTTP: the database, the stream producer, locks).</summary>
    public IServiceProvider ServicesA => _a!.Services;

    public string Prefix { get; } = "t" + Guid.NewGuid().ToString("N")[..12];

    public HttpClient ClientA { get; private set; } = null!;

    public HttpClient ClientB { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServerProcess.StartAsync();
        (_a, A) = await StartAsync();
        // Started after A so the database is already created and seeded.
        (_b, B) = await StartAsync("--Shop:AnonymousAdminStats=true");
        ClientA = new HttpClient { BaseAddress = A, Timeout = TimeSpan.FromSeconds(30) };
        ClientB = new HttpClient { BaseAddress = B, Timeout = TimeSpan.FromSeconds(30) };
    }

    private async Task<(WebApplication App, Uri Address)> StartAsync(params string[] extra)
    {
        string[] args =
        [
            "--urls", "http://127.0.0.1:0",
            "--environment", "Production",
            $"--ConnectionStrings:redis={_redis!.ConnectionString}",
            $"--ConnectionStrings:shop=Data Source={Path.Combine(_directory, "shop.db")}",
            $"--RedisKit:KeyPrefix={Prefix}",
            "--Shop:ApiRequestsPerMinute=100000",
            "--Shop:ViewFlushIntervalMilliseconds=200",
            "--Logging:LogLevel:Default=Warning",
            .. extra,
        ];
        var app = await ShopApp.BuildAsync(args);
        await app.StartAsync();
        var address = ShopApp.Addresses(app).Single();
        return (app, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>A client of instance A signed in as <paramref name="username"/> (bearer session id).</summary>
    public async Task<(HttpClient Client, string SessionId)> SignInAsync(string username, string password, Uri? instance = null)
    {
        var client = new HttpClient { BaseAddress = instance ?? A, Timeout = TimeSpan.FromSeconds(30) };
        var response = await client.PostAsJsonAsync("auth/login", new { username, password });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = body.GetProperty("sessionId").GetString()!;
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", id);
        return (client, id);
    }

    public async Task DisposeAsync()
    {
        ClientA?.Dispose();
        ClientB?.Dispose();
        foreach (var app in new[] { _b, _a })
        {
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // SQLite may still hold the file briefly; the OS temp cleaner removes it.
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ShopCollection : ICollectionFixture<ShopFixture>
{
    public const string Name = "shop";
}

using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RedisKit.Testing;
using StackExchange.Redis;

namespace RedisKit.AspNetCore.Tests.Sessions;

/// <summary>The apps the session tests run: token mode, cookie mode, ASP.NET Core UseSession.</summary>
internal static class SessionApps
{
    public static Task<TestApp> StartTokenAppAsync(string connectionString, string prefix, CapturingLoggerProvider? capture = null) =>
        TestApp.StartAsync(
            b =>
            {
                AddRedisKit(b, connectionString, prefix).AddSessionTokens(o => o.RetryAfter = TimeSpan.FromSeconds(7));
                Capture(b, capture);
            },
            app =>
            {
                app.MapPost("/login/{user}", async (string user, ISessionStore store, HttpContext context) =>
                    (await store.CreateAsync(user, null, context.Request.Headers.UserAgent.ToString())).Id);
                var api = app.MapGroup("/api").RequireSession();
                api.MapGet("/me", (HttpContext context) => context.GetRedisSession()!.UserId);
                api.MapPost("/rotate", async (HttpContext context, ISessionStore store) => (await store.RotateAsync(context.GetRedisSession()!.Id))!.Id);
                api.MapPost("/logout-all", async (HttpContext context) => await context.SignOutEverywhereAsync());
                api.MapPost("/logout-others", async (HttpContext context) => await context.SignOutOtherSessionsAsync());
            });

    public static Task<TestApp> StartCookieAppAsync(string connectionString, string prefix, DirectoryInfo keys, CapturingLoggerProvider? capture = null) =>
        TestApp.StartAsync(
            b =>
            {
                b.Services.AddDataProtection().PersistKeysToFileSystem(keys).SetApplicationName("rediskit-session-tests");
                AddRedisKit(b, connectionString, prefix).AddSessionCookies(
                    configureCookie: o => o.Events.OnRedirectToLogin = context =>
                    {
                        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                        return Task.CompletedTask;
                    },
                    configure: o => o.RetryAfter = TimeSpan.FromSeconds(3));
                b.Services.AddAuthorization();
                Capture(b, capture);
            },
            app =>
            {
                app.UseRedisKitSessions();
                app.UseAuthentication();
                app.UseAuthorization();
                app.MapPost("/signin/{user}", async (string user, HttpContext context) =>
                {
                    await context.SignInAsync(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user)], "test")));
                    return "ok";
                });
                app.MapGet("/me", (HttpContext context) => context.User.FindFirst(ClaimTypes.NameIdentifier)!.Value).RequireAuthorization();
                app.MapPost("/signout", async (HttpContext context) =>
                {
                    await context.SignOutAsync();
                    return "bye";
                }).RequireAuthorization();
                app.MapPost("/signout-everywhere", async (HttpContext context) => await context.SignOutEverywhereAsync()).RequireAuthorization();
            });

    public static Task<TestApp> StartUseSessionAppAsync(string connectionString, string prefix, DirectoryInfo keys) =>
        TestApp.StartAsync(
            b =>
            {
                b.Services.AddDataProtection().PersistKeysToFileSystem(keys).SetApplicationName("rediskit-session-tests");
                AddRedisKit(b, connectionString, prefix).AddDistributedCache();
                b.Services.AddSession(o => o.IdleTimeout = TimeSpan.FromMinutes(5));
            },
            app =>
            {
                app.UseSession();
                app.MapPost("/cart/{item}", (string item, HttpContext context) =>
                {
                    context.Session.SetString("cart", (context.Session.GetString("cart") ?? "") + item + ";");
                    return "ok";
                });
                app.MapGet("/cart", (HttpContext context) => context.Session.GetString("cart") ?? "");
            });

    public static HttpClient NewClient(TestApp app) => new(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = app.Address };

    public static HttpRequestMessage Request(HttpMethod method, string path, string? bearer = null, string? cookie = null, string? header = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (bearer is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + bearer);
        }

        if (header is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Session-Id", header);
        }

        if (cookie is not null)
        {
            request.Headers.TryAddWithoutValidation("Cookie", cookie);
        }

        request.Headers.TryAddWithoutValidation("User-Agent", "SessionTests/1.0");
        return request;
    }

    /// <summary>The <c>name=value</c> pair and the full Set-Cookie line of cookie <paramref name="name"/>.</summary>
    public static (string Pair, string SetCookie) Cookie(HttpResponseMessage response, string name)
    {
        var line = response.Headers.GetValues("Set-Cookie").First(l => l.StartsWith(name + "=", StringComparison.Ordinal));
        return (line[..line.IndexOf(';', StringComparison.Ordinal)], line);
    }

    public static async Task<int> CountKeysAsync(string connectionString, string prefix)
    {
        await using var client = await ConnectionMultiplexer.ConnectAsync(connectionString);
        var count = 0;
        await foreach (var _ in client.GetServers()[0].KeysAsync(pattern: prefix + ":*"))
        {
            count++;
        }

        return count;
    }

    private static RedisKitBuilder AddRedisKit(WebApplicationBuilder builder, string connectionString, string prefix) =>
        builder.Services.AddRedisKit(o =>
        {
            o.ConnectionString = connectionString;
            o.KeyPrefix = prefix;
            OutageReadyOptions.Apply(o);
        });

    private static void Capture(WebApplicationBuilder builder, CapturingLoggerProvider? capture)
    {
        if (capture is not null)
        {
            builder.Logging.AddProvider(capture);
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
        }
    }
}

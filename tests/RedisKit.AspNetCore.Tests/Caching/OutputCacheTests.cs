using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;

namespace RedisKit.AspNetCore.Tests.Caching;

public class OutputCacheTests
{
    private static async Task<TestApp> StartAppAsync(string connectionString, string prefix, Func<int> render)
    {
        return await TestApp.StartAsync(
            b =>
            {
                b.Services.AddRedisKit(o =>
                {
                    o.ConnectionString = connectionString;
                    o.KeyPrefix = prefix;
                }).AddOutputCacheStore();
                b.Services.AddOutputCache(o => o.AddBasePolicy(p => p.Expire(TimeSpan.FromMinutes(1))));
            },
            a =>
            {
                a.UseOutputCache();
                a.MapGet("/products", () => $"render {render()}").CacheOutput(p => p.Tag("products").SetVaryByQuery("page"));
                a.MapPost("/products", async (IOutputCacheStore store, CancellationToken ct) =>
                {
                    await store.EvictByTagAsync("products", ct);
                    return Results.NoContent();
                });
            });
    }

    [Fact]
    public async Task OutputCache_SecondGetServedFromCache_TagEvictionOnOtherInstanceMakesNextGetAMiss()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        var renders = 0;
        int Render() => Interlocked.Increment(ref renders);
        await using var a = await StartAppAsync(server.ConnectionString, prefix, Render);
        await using var b = await StartAppAsync(server.ConnectionString, prefix, Render);

        // Output cache keys include the Host header; behind a load balancer both instances see the same one.
        a.Client.DefaultRequestHeaders.Host = "shop.example";
        b.Client.DefaultRequestHeaders.Host = "shop.example";

        var first = await a.Client.GetStringAsync("/products?page=1");
        var second = await a.Client.GetStringAsync("/products?page=1");
        var fromOtherInstance = await b.Client.GetStringAsync("/products?page=1");
        var otherPage = await a.Client.GetStringAsync("/products?page=2");

        Assert.Equal("render 1", first);
        Assert.Equal(first, second);
        Assert.Equal(first, fromOtherInstance);
        Assert.Equal("render 2", otherPage);

        Assert.Equal(HttpStatusCode.NoContent, (await b.Client.PostAsync("/products", null)).StatusCode);

        var afterEviction = await TestHost.EventuallyAsync(async () =>
        {
            var body = await a.Client.GetStringAsync("/products?page=1");
            return body != first ? body : throw new InvalidOperationException("still cached");
        }, TimeSpan.FromSeconds(3));
        Assert.Equal("render 3", afterEviction);
    }

    [Fact]
    public async Task OutputCache_RedisStopped_RequestsStillSucceed()
    {
        await using var server = await RedisKit.Testing.RedisServerProcess.StartAsync();
        var renders = 0;
        await using var app = await StartAppAsync(server.ConnectionString + ",connectTimeout=500,asyncTimeout=500", Servers.NewPrefix(), () => Interlocked.Increment(ref renders));
        await app.Client.GetStringAsync("/products?page=9");

        await server.StopAsync();
        var response = await app.Client.GetAsync("/products?page=10");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}

using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.Testing;

namespace RedisKit.AspNetCore.Tests;

public class HealthCheckEndpointTests
{
    [Fact]
    public async Task ReadyEndpoint_RedisUp_200_RedisStopped_503()
    {
        await using var server = await RedisServerProcess.StartAsync();
        await using var app = await TestApp.StartAsync(
            b =>
            {
                b.Services.AddRedisKit(o =>
                {
                    o.ConnectionString = server.ConnectionString;
                    o.KeyPrefix = Servers.NewPrefix();
                    OutageReadyOptions.Apply(o); // the first probe of a cold run must not time out; the one after the stop fails at once
                });
                b.Services.AddHealthChecks().AddRedisKit(configure: o => o.Timeout = TimeSpan.FromSeconds(5));
            },
            a => a.MapHealthChecks("/health/ready", new HealthCheckOptions()));

        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health/ready")).StatusCode);

        await server.StopAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await app.Client.GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public void AddRedisKitHealthCheck_WithoutAddRedisKit_FailsAtRegistrationWithClearMessage()
    {
        var services = new ServiceCollection();

        var ex = Assert.Throws<InvalidOperationException>(() => services.AddHealthChecks().AddRedisKit());

        Assert.Contains("services.AddRedisKit()", ex.Message, StringComparison.Ordinal);
    }
}

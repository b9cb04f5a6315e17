using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RedisKit.RateLimiting;

namespace RedisKit.Tests.RateLimiting;

public class RateLimitOptionsTests
{
    [Fact]
    public async Task HostStart_InvalidPolicies_FailsNamingPolicyAndSetting()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddRedisKit(o => o.ConnectionString = "127.0.0.1:1").AddRateLimiting(o =>
        {
            o.AddPolicy(new RateLimitPolicy { Name = "login", PermitLimit = 0, Window = TimeSpan.FromMinutes(15) });
            o.AddPolicy(new RateLimitPolicy { Name = "api", PermitLimit = 100, Window = TimeSpan.Zero });
        });
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.Contains("Policies:login", StringComparison.Ordinal) && f.Contains("PermitLimit", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Policies:api", StringComparison.Ordinal) && f.Contains("Window", StringComparison.Ordinal));
    }

    [Fact]
    public void Options_BoundFromConfiguration_NameComesFromKey()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["RedisKit:RateLimiting:Policies:login:PermitLimit"] = "5";
        builder.Configuration["RedisKit:RateLimiting:Policies:login:Window"] = "00:15:00";
        builder.Configuration["RedisKit:RateLimiting:Policies:login:FailureMode"] = "FailClosed";
        builder.Services.AddRedisKit(o => o.ConnectionString = "127.0.0.1:1").AddRateLimiting();
        using var host = builder.Build();

        var options = host.Services.GetRequiredService<IOptions<RedisRateLimitingOptions>>().Value;
        var login = options.Policies["login"];
        Assert.Equal("login", login.Name);
        Assert.Equal(5, login.PermitLimit);
        Assert.Equal(RateLimitFailureMode.FailClosed, login.FailureMode);
    }

    [Fact]
    public void AdHocPolicy_Invalid_ThrowsWithSettingName()
    {
        var error = Assert.Throws<OptionsValidationException>(() => RateLimitPolicy.TokenBucket("tb", -1, 1, TimeSpan.FromSeconds(1)).Validate());
        Assert.Contains("PermitLimit", error.Message, StringComparison.Ordinal);
    }
}

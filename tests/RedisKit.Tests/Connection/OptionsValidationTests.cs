using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace RedisKit.Tests.Connection;

public class OptionsValidationTests
{
    private static async Task<Exception?> StartHostAsync(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddRedisKit();
        using var host = builder.Build();
        try
        {
            await host.StartAsync();
            await host.StopAsync();
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    [Fact]
    public async Task Start_MissingConnectionString_FailsNamingTheSetting()
    {
        var ex = await StartHostAsync([]);

        var validation = Assert.IsType<OptionsValidationException>(ex);
        Assert.Contains("RedisKit:ConnectionString", validation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_MalformedUrl_FailsNamingTheSetting()
    {
        var ex = await StartHostAsync(new() { ["ConnectionStrings:redis"] = "redis://host/abc" });

        var validation = Assert.IsType<OptionsValidationException>(ex);
        Assert.Contains("RedisKit:ConnectionString is invalid", validation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_InvalidKeyPrefix_FailsNamingTheSetting()
    {
        var ex = await StartHostAsync(new() { ["ConnectionStrings:redis"] = "127.0.0.1:1", ["RedisKit:KeyPrefix"] = "bad prefix:{x}" });

        var validation = Assert.IsType<OptionsValidationException>(ex);
        Assert.Contains("KeyPrefix", validation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_OutOfRangeTimeout_FailsNamingTheSetting()
    {
        var ex = await StartHostAsync(new() { ["ConnectionStrings:redis"] = "127.0.0.1:1", ["RedisKit:CommandTimeout"] = "00:30:00" });

        var validation = Assert.IsType<OptionsValidationException>(ex);
        Assert.Contains("CommandTimeout", validation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_SentinelWithBadEndpoint_FailsNamingTheSetting()
    {
        var ex = await StartHostAsync(new()
        {
            ["RedisKit:Sentinel:ServiceName"] = "mymaster",
            ["RedisKit:Sentinel:Endpoints:0"] = "host:notaport",
        });

        var validation = Assert.IsType<OptionsValidationException>(ex);
        Assert.Contains("RedisKit:Sentinel:Endpoints", validation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_SectionConnectionStringWinsOverConnectionStrings()
    {
        var server = await Servers.Redis();
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = "127.0.0.1:1",
            ["RedisKit:ConnectionString"] = $"redis://{server.EndPoint}",
            ["RedisKit:KeyPrefix"] = Servers.NewPrefix(),
        });
        builder.Services.AddRedisKit();
        using var host = builder.Build();
        await host.StartAsync();

        var connection = host.Services.GetRequiredService<IRedisConnection>();
        var database = await connection.GetDatabaseAsync();
        Assert.True((await database.PingAsync()) < TimeSpan.FromSeconds(2));
        Assert.NotNull(connection.Capabilities);
        await host.StopAsync();
    }
}

using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using RedisKit.Samples.Shop;

var builder = WebApplication.CreateBuilder(args);

await using var devRedis = await DevRedis.ResolveAsync(builder.Configuration);
builder.Services.AddRedisKit(o =>
{
    o.ConnectionString = devRedis.ConnectionString;
    o.GarnetLuaTransactionMode = devRedis.IsGarnet;
});
builder.Services.AddHealthChecks().AddRedisKit(tags: ["ready"]);

var app = builder.Build();
app.Logger.LogInformation("Shop uses {Redis}", devRedis.Description);

app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });

await app.RunAsync();

/// <summary>Entry point (public so tests can reference the assembly).</summary>
public partial class Program;

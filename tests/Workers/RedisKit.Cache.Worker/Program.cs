using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RedisKit;

// Usage: worker <connection> <prefix> <key> <callers>
// Announces itself (INCR {prefix}:ready), waits for {prefix}:go, then runs <callers> concurrent
// GetOrSet calls on <key> whose factory counts its runs in {prefix}:factory-calls.
var (connection, prefix, key, callers) = (args[0], args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture));

var services = new ServiceCollection();
services.AddLogging();
services.AddRedisKit(o =>
{
    o.ConnectionString = connection;
    o.KeyPrefix = prefix;
}).AddCaching(o => o.LockPollInterval = TimeSpan.FromMilliseconds(20));
await using var provider = services.BuildServiceProvider();
foreach (var hosted in provider.GetServices<IHostedService>())
{
    await hosted.StartAsync(CancellationToken.None);
}

var database = await provider.GetRequiredService<IRedisConnection>().GetDatabaseAsync();
var cache = provider.GetRequiredService<IRedisCache>();
await database.StringIncrementAsync(prefix + ":ready");
var deadline = DateTime.UtcNow.AddSeconds(60);
while (!await database.KeyExistsAsync(prefix + ":go"))
{
    if (DateTime.UtcNow > deadline)
    {
        Console.WriteLine("no go signal");
        return 2;
    }

    await Task.Delay(10);
}

var results = await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => cache.GetOrSetAsync(key, async ct =>
{
    await database.StringIncrementAsync(prefix + ":factory-calls");
    await Task.Delay(500, ct);
    return 42;
}).AsTask()));

Console.WriteLine(results.All(r => r == 42) ? $"done {callers}" : "wrong values");
return 0;

using Microsoft.Extensions.DependencyInjection;
using RedisKit;
using StackExchange.Redis;

// Usage: RedisKit.Locking.Worker <connection string> <key prefix> <lock name> <counter key> <iterations>
// Does <iterations> non-atomic read-modify-write increments of <counter key> (GET, then SET) under the lock.
// Prints "done N" and exits 0; any error exits 1.
if (args.Length != 5)
{
    Console.Error.WriteLine("usage: RedisKit.Locking.Worker <connection> <prefix> <lock> <counter key> <iterations>");
    return 2;
}

var services = new ServiceCollection();
services.AddLogging();
services.AddRedisKit(o =>
{
    o.ConnectionString = args[0];
    o.KeyPrefix = args[1];
}).AddLocking(o => o.Expiry = TimeSpan.FromSeconds(10));
await using var provider = services.BuildServiceProvider();
var locks = provider.GetRequiredService<IRedisLockProvider>();
var database = await provider.GetRequiredService<IRedisConnection>().GetDatabaseAsync();
var redisLock = locks.CreateLock(args[2]);
RedisKey counter = args[3];
var iterations = int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture);

for (var i = 0; i < iterations; i++)
{
    await using var handle = await redisLock.AcquireAsync(TimeSpan.FromSeconds(30));
    var value = (long?)await database.StringGetAsync(counter) ?? 0;
    await Task.Yield();
    await database.StringSetAsync(counter, value + 1);
}

Console.WriteLine($"done {iterations}");
return 0;

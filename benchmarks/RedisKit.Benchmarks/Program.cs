using BenchmarkDotNet.Running;
using RedisKit.Benchmarks.Caching;

// dotnet run -c Release --project benchmarks/RedisKit.Benchmarks -- --filter '*Cache*' --job short
// dotnet run -c Release --project benchmarks/RedisKit.Benchmarks -- stampede
if (args.Length > 0 && args[0] == "stampede")
{
    Console.WriteLine(await StampedeReport.RunAsync());
    return;
}

// dotnet run -c Release --project benchmarks/RedisKit.Benchmarks -- ratelimit-probe [rounds]
if (args.Length > 0 && args[0] == "ratelimit-probe")
{
    Console.WriteLine(await RedisKit.Benchmarks.RateLimiting.RateLimitProbe.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20, args.Length > 2 ? args[2] : null));
    return;
}

// dotnet run -c Release --project benchmarks/RedisKit.Benchmarks -- lock-alloc-probe [operations] [await|default] [callers]
if (args.Length > 0 && args[0] == "lock-alloc-probe")
{
    var operations = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200_000;
    var callers = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 1;
    Console.WriteLine(await RedisKit.Benchmarks.Locking.LockAllocationProbe.RunAsync(operations, args.Length > 2 && args[2] == "await", callers));
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

using BenchmarkDotNet.Running;
using RedisKit.Benchmarks.Caching;

// dotnet run -c Release --project benchmarks/RedisKit.Benchmarks -- --filter '*Cache*' --job short
// dotnet run -c Release --project benchmarks/RedisKit.Benchmarks -- stampede
if (args.Length > 0 && args[0] == "stampede")
{
    Console.WriteLine(await StampedeReport.RunAsync());
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

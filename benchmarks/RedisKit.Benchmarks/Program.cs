using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/RedisKit.Benchmarks -- --filter '*Keys*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

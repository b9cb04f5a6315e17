using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Session;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using StackExchange.Redis.Profiling;

namespace RedisKit.Benchmarks.Sessions;

/// <summary>
/// One request's session work, side by side: RedisKit's load+touch (<see cref="ISessionStore.GetAsync"/>,
/// one EVALSHA) against ASP.NET Core's DistributedSession over Microsoft's RedisCache (LoadAsync + CommitAsync,
/// as the session middleware does for a request that reads but does not change the session). Both use the
/// same multiplexer on a private redis-server. GlobalSetup also counts the commands each sends per request
/// with StackExchange.Redis profiling and prints them ("SESSION-COMMANDS").
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class SessionLoadBenchmarks
{
    private const int Concurrency = 64;
    private ConnectionMultiplexer _multiplexer = null!;
    private ServiceProvider _provider = null!;
    private ISessionStore _store = null!;
    private string _sessionId = null!;
    private DistributedSessionStore _aspNetStore = null!;
    private RedisCache _redisCache = null!;
    private string _aspNetKey = null!;
    private ProfilingSession? _profiling;

    [GlobalSetup]
    public void Setup()
    {
        _multiplexer = BenchmarkServer.Connect();
        _multiplexer.RegisterProfiler(() => _profiling);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddRedisKit(_multiplexer, o => o.KeyPrefix = "bench").AddSessions();
        _provider = services.BuildServiceProvider();
        _store = _provider.GetRequiredService<ISessionStore>();
        var fields = new Dictionary<string, byte[]> { ["cart"] = new byte[200], ["theme"] = Encoding.UTF8.GetBytes("dark") };
        _sessionId = _store.CreateAsync("bench-user", fields, "BenchmarkDotNet").GetAwaiter().GetResult().Id;

        _redisCache = new RedisCache(new RedisCacheOptions
        {
            ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(_multiplexer),
            InstanceName = "bench-aspnet:",
        });
        _aspNetStore = new DistributedSessionStore(_redisCache, NullLoggerFactory.Instance);
        _aspNetKey = Guid.NewGuid().ToString("N");
        var session = _aspNetStore.Create(_aspNetKey, TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(1), () => true, isNewSessionKey: true);
        session.LoadAsync().GetAwaiter().GetResult();
        session.Set("cart", new byte[200]);
        session.SetString("theme", "dark");
        session.CommitAsync().GetAwaiter().GetResult();

        // Warm up (scripts cached, connections made), then count the commands one request sends.
        RedisKitSessionGet().GetAwaiter().GetResult();
        AspNetCoreDistributedSession().GetAwaiter().GetResult();
        Console.WriteLine($"SESSION-COMMANDS RedisKit GetAsync: {Count(RedisKitSessionGet)}");
        Console.WriteLine($"SESSION-COMMANDS ASP.NET Core DistributedSession Load+Commit over RedisCache: {Count(AspNetCoreDistributedSession)}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _redisCache.Dispose();
        _provider.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _multiplexer.Dispose();
        BenchmarkServer.Stop();
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("sequential")]
    public async Task AspNetCoreDistributedSession()
    {
        var session = _aspNetStore.Create(_aspNetKey, TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(1), () => true, isNewSessionKey: false);
        await session.LoadAsync();
        if (!session.TryGetValue("cart", out _))
        {
            throw new InvalidOperationException("ASP.NET Core session lost its data.");
        }

        await session.CommitAsync();
    }

    [Benchmark]
    [BenchmarkCategory("sequential")]
    public async Task RedisKitSessionGet()
    {
        var session = await _store.GetAsync(_sessionId);
        if (session is null || !session.Fields.ContainsKey("cart"))
        {
            throw new InvalidOperationException("RedisKit session lost its data.");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Concurrency)]
    [BenchmarkCategory("64 concurrent")]
    public Task AspNetCoreDistributedSession_Concurrent() => Parallel(AspNetCoreDistributedSession);

    [Benchmark(OperationsPerInvoke = Concurrency)]
    [BenchmarkCategory("64 concurrent")]
    public Task RedisKitSessionGet_Concurrent() => Parallel(RedisKitSessionGet);

    private static Task Parallel(Func<Task> operation)
    {
        var tasks = new Task[Concurrency];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = operation();
        }

        return Task.WhenAll(tasks);
    }

    private string Count(Func<Task> operation)
    {
        const int Requests = 20;
        _profiling = new ProfilingSession();
        for (var i = 0; i < Requests; i++)
        {
            operation().GetAwaiter().GetResult();
        }

        var commands = _profiling.FinishProfiling().ToList();
        _profiling = null;
        var byName = string.Join(", ", commands.GroupBy(c => c.Command).Select(g => $"{g.Key}={g.Count() / (double)Requests}"));
        return $"{commands.Count / (double)Requests} commands per request ({byName})";
    }
}

using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace RedisKit.Tests.Locking;

public class ReadWriteLockAndSemaphoreTests
{
    private static async Task<(ServiceProvider Provider, IRedisLockProvider Locks)> StartAsync(Action<LockingOptions>? configure = null)
    {
        var server = await Servers.Redis();
        var provider = TestHost.Build(server.ConnectionString, configure: b => b.AddLocking(configure));
        return (provider, provider.GetRequiredService<IRedisLockProvider>());
    }

    [Fact]
    public async Task ReadLock_ManyReaders_ShareItAndExcludeTheWriter()
    {
        var (provider, locks) = await StartAsync();
        await using var _ = provider;
        var rw = locks.CreateReadWriteLock("catalog");

        await using var reader1 = await rw.TryAcquireReadAsync();
        await using var reader2 = await rw.TryAcquireReadAsync();
        var writerWhileRead = await rw.TryAcquireWriteAsync(TimeSpan.FromMilliseconds(200));
        await reader1!.DisposeAsync();
        await reader2!.DisposeAsync();
        await using var writer = await rw.TryAcquireWriteAsync(TimeSpan.FromSeconds(5));

        Assert.NotNull(reader1);
        Assert.NotNull(reader2);
        Assert.Null(writerWhileRead);
        Assert.NotNull(writer);
        Assert.True(writer.FencingToken >= 1);
        Assert.Equal(0, reader1.FencingToken);
    }

    [Fact]
    public async Task WriteLock_Held_ExcludesReadersAndWritersUntilReleased()
    {
        var (provider, locks) = await StartAsync();
        await using var _ = provider;
        var rw = locks.CreateReadWriteLock("prices");
        var writer = await rw.AcquireWriteAsync();

        var reader = await rw.TryAcquireReadAsync();
        var secondWriter = await rw.TryAcquireWriteAsync();
        var waitingReader = rw.AcquireReadAsync(TimeSpan.FromSeconds(10)).AsTask();
        await Task.Delay(100);
        Assert.False(waitingReader.IsCompleted);
        await writer.DisposeAsync();
        await using var readerAfter = await waitingReader;

        Assert.Null(reader);
        Assert.Null(secondWriter);
        Assert.NotNull(readerAfter);
    }

    [Fact]
    public async Task ReadLock_HolderDiesWithoutReleasing_WriterGetsItAfterTheReaderExpires()
    {
        var (provider, locks) = await StartAsync(o => o.AutoExtend = false);
        await using var _ = provider;
        var rw = locks.CreateReadWriteLock("dead-reader", new RedisLockSettings { Expiry = TimeSpan.FromMilliseconds(300) });

        // Never disposed: a reader process that died.
        var dead = await rw.AcquireReadAsync();
        var writer = await rw.TryAcquireWriteAsync(TimeSpan.FromSeconds(5));

        Assert.NotNull(dead);
        Assert.NotNull(writer);
        Assert.False(await dead.ExtendAsync());
        await writer.DisposeAsync();
    }

    [Fact]
    public async Task ReadWriteLock_ConcurrentReadersAndWriters_NeverOverlapAWriter()
    {
        var (provider, locks) = await StartAsync();
        await using var _ = provider;
        var readers = 0;
        var writers = 0;
        var violations = 0;
        var maxReaders = 0;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(n => Task.Run(async () =>
        {
            var rw = locks.CreateReadWriteLock("mixed");
            for (var i = 0; i < 8; i++)
            {
                if ((n + i) % 4 == 0)
                {
                    await using var handle = await rw.AcquireWriteAsync(TimeSpan.FromSeconds(30));
                    if (Interlocked.Increment(ref writers) != 1 || Volatile.Read(ref readers) != 0)
                    {
                        Interlocked.Increment(ref violations);
                    }

                    await Task.Delay(5);
                    Interlocked.Decrement(ref writers);
                }
                else
                {
                    await using var handle = await rw.AcquireReadAsync(TimeSpan.FromSeconds(30));
                    var now = Interlocked.Increment(ref readers);
                    InterlockedMax(ref maxReaders, now);
                    if (Volatile.Read(ref writers) != 0)
                    {
                        Interlocked.Increment(ref violations);
                    }

                    await Task.Delay(5);
                    Interlocked.Decrement(ref readers);
                }
            }
        })));

        Assert.Equal(0, violations);
        Assert.True(maxReaders >= 1);
    }

    [Fact]
    public async Task Semaphore_MaxCountHolders_NextCallerWaitsForARelease()
    {
        var (provider, locks) = await StartAsync();
        await using var _ = provider;
        var semaphore = locks.CreateSemaphore("exports", 2);

        var first = await semaphore.TryAcquireAsync();
        await using var second = await semaphore.TryAcquireAsync();
        var third = await semaphore.TryAcquireAsync(TimeSpan.FromMilliseconds(200));
        var waiting = semaphore.AcquireAsync(TimeSpan.FromSeconds(10)).AsTask();
        await first!.DisposeAsync();
        await using var fourth = await waiting;

        Assert.Equal(2, semaphore.MaxCount);
        Assert.NotNull(second);
        Assert.Null(third);
        Assert.NotNull(fourth);
    }

    [Fact]
    public async Task Semaphore_ManyCallers_NeverMoreThanMaxCountInside()
    {
        var (provider, locks) = await StartAsync();
        await using var _ = provider;
        var inside = 0;
        var peak = 0;

        await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(async () =>
        {
            var semaphore = locks.CreateSemaphore("bounded", 3);
            for (var i = 0; i < 5; i++)
            {
                await using var handle = await semaphore.AcquireAsync(TimeSpan.FromSeconds(30));
                InterlockedMax(ref peak, Interlocked.Increment(ref inside));
                await Task.Delay(5);
                Interlocked.Decrement(ref inside);
            }
        })));

        Assert.InRange(peak, 1, 3);
    }

    [Fact]
    public async Task Semaphore_HolderDiesWithoutReleasing_SlotIsReclaimedAfterExpiry()
    {
        var (provider, locks) = await StartAsync(o => o.AutoExtend = false);
        await using var _ = provider;
        var semaphore = locks.CreateSemaphore("reclaim", 1, new RedisLockSettings { Expiry = TimeSpan.FromMilliseconds(300) });

        var dead = await semaphore.AcquireAsync();
        var next = await semaphore.TryAcquireAsync(TimeSpan.FromSeconds(5));

        Assert.NotNull(dead);
        Assert.NotNull(next);
        Assert.False(await dead.ExtendAsync());
        Assert.True(await next.ExtendAsync());
        await next.DisposeAsync();
    }

    [Fact]
    public async Task Semaphore_KeysAreHashTaggedAndExpire()
    {
        var (provider, locks) = await StartAsync();
        await using var _ = provider;
        var keys = provider.GetRequiredService<IRedisConnection>().Keys;
        var database = await provider.GetRequiredService<IRedisConnection>().GetDatabaseAsync();
        await using var handle = await locks.CreateSemaphore("tagged", 2).AcquireAsync();

        var key = keys.TaggedKey("semaphore", "tagged", "holders");
        var ttl = await database.KeyTimeToLiveAsync(key);

        Assert.Contains("{tagged}", key.ToString(), StringComparison.Ordinal);
        Assert.NotNull(ttl);
        Assert.Equal(1, await database.SortedSetLengthAsync(key));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

namespace RedisKit;

/// <summary>Run-under-lock helpers (seed: <c>withLock(name, fn)</c>).</summary>
public static class RedisLockExtensions
{
    /// <summary>
    /// Takes the lock named <paramref name="name"/> (waiting up to <paramref name="timeout"/>, null: forever),
    /// runs <paramref name="work"/>, and releases the lock even if the work throws. The token passed to the work
    /// is cancelled when <paramref name="cancellationToken"/> is, or when the lock is lost (<see cref="IRedisLockHandle.HandleLostToken"/>):
    /// pass it on. Throws <see cref="TimeoutException"/> when the lock stays held by someone else; Redis errors propagate.
    /// Round trips: acquire (1 when free) + release (1, not awaited unless <see cref="LockingOptions.AwaitRelease"/>) + extensions while the work runs.
    /// </summary>
    public static async Task<T> WithLockAsync<T>(this IRedisLockProvider provider, string name, Func<IRedisLockHandle, CancellationToken, Task<T>> work, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(provider);
        return await provider.CreateLock(name).WithLockAsync(work, timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>As <see cref="WithLockAsync{T}(IRedisLockProvider, string, Func{IRedisLockHandle, CancellationToken, Task{T}}, TimeSpan?, CancellationToken)"/>, without a result.</summary>
    public static Task WithLockAsync(this IRedisLockProvider provider, string name, Func<IRedisLockHandle, CancellationToken, Task> work, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return provider.WithLockAsync<bool>(name, async (handle, ct) =>
        {
            await work(handle, ct).ConfigureAwait(false);
            return true;
        }, timeout, cancellationToken);
    }

    /// <summary>Runs <paramref name="work"/> under <paramref name="redisLock"/>; see the provider overload.</summary>
    public static async Task<T> WithLockAsync<T>(this IRedisLock redisLock, Func<IRedisLockHandle, CancellationToken, Task<T>> work, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(redisLock);
        ArgumentNullException.ThrowIfNull(work);
        var handle = await redisLock.AcquireAsync(timeout, cancellationToken).ConfigureAwait(false);
        await using (handle.ConfigureAwait(false))
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, handle.HandleLostToken);
            return await work(handle, linked.Token).ConfigureAwait(false);
        }
    }
}

using Microsoft.Extensions.Hosting;

namespace RedisKit;

/// <summary>
/// On host shutdown, waits (within the host's shutdown timeout) for lock releases that were written but not
/// yet answered, so a process that exits right after releasing does not leave its locks to expire.
/// </summary>
internal sealed class LockReleaseFlusher(RedisLockProvider provider) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await provider.FlushReleasesAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutdown timeout: whatever is still pending expires by its TTL.
        }
    }
}

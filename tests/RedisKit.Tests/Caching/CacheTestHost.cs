using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace RedisKit.Tests.Caching;

/// <summary>An "app instance" with the cache: its own multiplexer, L1 and backplane subscription.</summary>
internal sealed class CacheInstance : IAsyncDisposable
{
    private readonly ServiceProvider _provider;

    private CacheInstance(ServiceProvider provider) => _provider = provider;

    public IRedisCache Cache => _provider.GetRequiredService<IRedisCache>();

    public IServiceProvider Services => _provider;

    public static async Task<CacheInstance> StartAsync(string connectionString, string prefix, Action<CacheOptions>? configure = null, TimeProvider? time = null, Action<RedisKitOptions>? redis = null)
    {
        var provider = TestHost.Build(connectionString, prefix, b =>
        {
            if (time is not null)
            {
                b.Services.Replace(ServiceDescriptor.Singleton(time));
            }

            b.AddCaching(o =>
            {
                o.LockPollInterval = TimeSpan.FromMilliseconds(20);
                configure?.Invoke(o);
            });
        }, redis);
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None);
        }

        return new CacheInstance(provider);
    }

    public ValueTask DisposeAsync() => _provider.DisposeAsync();
}

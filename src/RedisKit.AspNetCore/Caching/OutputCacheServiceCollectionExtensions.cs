using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RedisKit;
using RedisKit.AspNetCore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers RedisKit as the store behind ASP.NET Core output caching.</summary>
public static class OutputCacheServiceCollectionExtensions
{
    /// <summary>
    /// Makes <see cref="IOutputCacheStore"/> RedisKit's cache (adding the cache if needed). Call
    /// <c>services.AddOutputCache(…)</c> for the policies and <c>app.UseOutputCache()</c> as usual.
    /// </summary>
    public static RedisKitBuilder AddOutputCacheStore(this RedisKitBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.Services.Any(d => d.ServiceType == typeof(IRedisCache)))
        {
            builder.AddCaching();
        }

        builder.Services.RemoveAll<IOutputCacheStore>();
        builder.Services.AddSingleton<IOutputCacheStore, RedisOutputCacheStore>();
        return builder;
    }
}

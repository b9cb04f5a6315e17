using Microsoft.Extensions.DependencyInjection.Extensions;
using RedisKit;
using RedisKit.DataStructures;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the data-structure helpers.</summary>
public static class DataStructuresServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IRedisDataStructures"/> (typed hashes with partial updates, capped recent lists).
    /// They need atomic Lua (host start fails on a server without it).
    /// </summary>
    public static RedisKitBuilder AddDataStructures(this RedisKitBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.Services.Any(d => d.ServiceType == typeof(IRedisDataStructures)))
        {
            builder.Services.TryAddSingleton<IRedisDataStructures, RedisDataStructures>();
            builder.RequireFeatures(RedisFeatures.AtomicLua, "data structures");
        }

        return builder;
    }
}

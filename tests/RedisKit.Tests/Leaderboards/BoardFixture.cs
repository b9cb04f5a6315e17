using Microsoft.Extensions.DependencyInjection;
using RedisKit.Leaderboards;

namespace RedisKit.Tests.Leaderboards;

/// <summary>A service provider with leaderboards on a given server, optionally with a fake clock.</summary>
internal sealed class BoardFixture : IAsyncDisposable
{
    private BoardFixture(ServiceProvider provider)
    {
        Provider = provider;
        Boards = provider.GetRequiredService<ILeaderboards>();
        Connection = provider.GetRequiredService<IRedisConnection>();
    }

    public ServiceProvider Provider { get; }

    public ILeaderboards Boards { get; }

    public IRedisConnection Connection { get; }

    public static async Task<BoardFixture> RedisAsync(Action<LeaderboardsOptions>? configure = null, TimeProvider? time = null) =>
        Create((await Servers.Redis()).ConnectionString, configure, time);

    public static async Task<BoardFixture> ClusterAsync(Action<LeaderboardsOptions>? configure = null, TimeProvider? time = null) =>
        Create((await Servers.Cluster()).ConnectionString, configure, time);

    public static BoardFixture Create(string connectionString, Action<LeaderboardsOptions>? configure = null, TimeProvider? time = null) =>
        new(TestHost.Build(connectionString, configure: b =>
        {
            b.AddLeaderboards(configure);
            if (time is not null)
            {
                b.Services.AddSingleton(time);
            }
        }));

    public ValueTask<StackExchange.Redis.IDatabase> DatabaseAsync() => Connection.GetDatabaseAsync();

    public ValueTask DisposeAsync() => Provider.DisposeAsync();
}


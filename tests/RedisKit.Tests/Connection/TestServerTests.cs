using RedisKit.Testing;

namespace RedisKit.Tests.Connection;

public class TestServerTests
{
    [Fact]
    public void RedisServerNotFound_MessageSaysHowToInstall()
    {
        var ex = new RedisServerNotFoundException("redis-server");

        Assert.Contains("apt-get install redis-server", ex.Message, StringComparison.Ordinal);
        Assert.Contains(RedisBinaries.DirectoryVariable, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisServerProcess_StopPauseResumeStart_BehaveLikeARealOutage()
    {
        await using var server = await RedisServerProcess.StartAsync();
        Assert.Equal("PONG", (await server.CliAsync("PING")).Trim());

        await server.StopAsync();
        Assert.False(server.IsRunning);
        await server.StartAgainAsync();
        Assert.True(server.IsRunning);
        Assert.Equal("PONG", (await server.CliAsync("PING")).Trim());
    }
}

using System.Net;
using StackExchange.Redis;

namespace RedisKit.Tests.Connection;

public class RedisConnectionStringTests
{
    [Fact]
    public void Parse_RedisUrlWithUserPasswordAndDatabase_MapsEveryPart()
    {
        var options = RedisConnectionString.Parse("redis://alice:s%40cret@cache.example:6380/3");

        var endPoint = Assert.IsType<DnsEndPoint>(Assert.Single(options.EndPoints));
        Assert.Equal("cache.example", endPoint.Host);
        Assert.Equal(6380, endPoint.Port);
        Assert.Equal("alice", options.User);
        Assert.Equal("s@cret", options.Password);
        Assert.Equal(3, options.DefaultDatabase);
        Assert.False(options.Ssl);
    }

    [Fact]
    public void Parse_RedissUrl_EnablesTlsWithHostName()
    {
        var options = RedisConnectionString.Parse("rediss://:pw@secure.example");

        Assert.True(options.Ssl);
        Assert.Equal("secure.example", options.SslHost);
        Assert.Null(options.User);
        Assert.Equal("pw", options.Password);
        Assert.Equal(6379, Assert.IsType<DnsEndPoint>(Assert.Single(options.EndPoints)).Port);
    }

    [Fact]
    public void Parse_UrlWithLoneUserInfo_TreatsItAsPassword()
    {
        var options = RedisConnectionString.Parse("redis://topsecret@127.0.0.1");

        Assert.Equal("topsecret", options.Password);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 6379), Assert.Single(options.EndPoints));
    }

    [Fact]
    public void Parse_Ipv6Url_ParsesBracketedAddress()
    {
        var options = RedisConnectionString.Parse("redis://[::1]:7000");

        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 7000), Assert.Single(options.EndPoints));
    }

    [Fact]
    public void Parse_StackExchangeConfigurationString_IsAccepted()
    {
        var options = RedisConnectionString.Parse("127.0.0.1:6379,password=x,ssl=true,connectTimeout=1000");

        Assert.Single(options.EndPoints);
        Assert.True(options.Ssl);
        Assert.Equal(1000, options.ConnectTimeout);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("redis://")]
    [InlineData("http://host:6379")]
    [InlineData("redis://host/notanumber")]
    [InlineData("redis://host/-1")]
    [InlineData("redis://host?ssl=true")]
    [InlineData("host:6379,unknownKeyword=1")]
    [InlineData(",,,")]
    public void Parse_InvalidValue_ThrowsFormatException(string value)
    {
        Assert.Throws<FormatException>(() => RedisConnectionString.Parse(value));
    }

    [Fact]
    public void Parse_InvalidUrlWithPassword_DoesNotEchoPassword()
    {
        var ex = Assert.Throws<FormatException>(() => RedisConnectionString.Parse("redis://u:hunter2@host/abc"));

        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:26379", true)]
    [InlineData("sentinel.local:26380", true)]
    [InlineData("sentinel.local", true)]
    [InlineData("[::1]:26379", true)]
    [InlineData("host:notaport", false)]
    [InlineData("host:70000", false)]
    [InlineData("", false)]
    public void TryParseEndPoint_VariousInputs_AcceptsOnlyValidEndpoints(string value, bool valid)
    {
        Assert.Equal(valid, RedisConnectionString.TryParseEndPoint(value, 26379, out _));
    }

    [Fact]
    public void BuildConfiguration_AppliesConnectionPolicy()
    {
        var configuration = RedisConnection.BuildConfiguration(new RedisKitOptions
        {
            ConnectionString = "redis://127.0.0.1:6379",
            KeyPrefix = "shop",
            ConnectTimeout = TimeSpan.FromSeconds(3),
            CommandTimeout = TimeSpan.FromMilliseconds(750),
        });

        Assert.False(configuration.AbortOnConnectFail);
        Assert.Equal(3000, configuration.ConnectTimeout);
        Assert.Equal(750, configuration.SyncTimeout);
        Assert.Equal(750, configuration.AsyncTimeout);
        Assert.IsType<ExponentialRetry>(configuration.ReconnectRetryPolicy);
        Assert.StartsWith("shop:", configuration.ClientName, StringComparison.Ordinal);
    }

    [Fact]
    public void BuildConfiguration_DefaultCommandMap_LeavesOutConfig_AUserCommandMapIsKept()
    {
        // CONFIG GET on every connect would be one ACL denial per connection for a user denied CONFIG.
        var configuration = RedisConnection.BuildConfiguration(new RedisKitOptions { ConnectionString = "127.0.0.1:6379" });
        Assert.Contains("$CONFIG=", configuration.ToString(), StringComparison.Ordinal); // the configuration string form of "renamed to nothing"
        Assert.DoesNotContain("$INFO=", configuration.ToString(), StringComparison.Ordinal);

        var own = RedisConnection.BuildConfiguration(new RedisKitOptions { ConnectionString = "127.0.0.1:6379,$ECHO=" });
        Assert.DoesNotContain("$CONFIG=", own.ToString(), StringComparison.Ordinal);
        Assert.Contains("$ECHO=", own.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void BuildConfiguration_Sentinel_SetsServiceNameAndSentinelEndpoints()
    {
        var configuration = RedisConnection.BuildConfiguration(new RedisKitOptions
        {
            Sentinel = new RedisSentinelOptions { ServiceName = "mymaster", Endpoints = ["127.0.0.1:26379", "127.0.0.1:26380"] },
        });

        Assert.Equal("mymaster", configuration.ServiceName);
        Assert.Equal(2, configuration.EndPoints.Count);
    }
}

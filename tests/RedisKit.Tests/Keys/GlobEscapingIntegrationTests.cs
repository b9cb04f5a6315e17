using StackExchange.Redis;

namespace RedisKit.Tests.Keys;

/// <summary>Hostile user input in a SCAN MATCH pattern must match only itself, proven on a real server.</summary>
public class GlobEscapingIntegrationTests
{
    [Theory]
    [InlineData("*")]
    [InlineData("?")]
    [InlineData("[")]
    [InlineData("[a-z]")]
    [InlineData("\\")]
    [InlineData("a\\*")]
    [InlineData("]")]
    [InlineData("x:y")]
    public async Task MatchPattern_HostileInput_MatchesOnlyKeysStartingWithThatLiteralText(string hostile)
    {
        var prefix = Servers.NewPrefix();
        var keys = new KeyBuilder(prefix);
        var server = await Servers.Redis();
        var client = await Servers.RedisClient();
        var database = client.GetDatabase();
        string[] names = [hostile + "-mine", "abc", "a", "zzz", "\\", "*", "?", "[", "x", "x:y-other", "a\\b"];
        foreach (var name in names.Distinct())
        {
            await database.StringSetAsync(keys.Key("search", name), name, TimeSpan.FromMinutes(1));
        }

        var pattern = keys.MatchPattern("search", hostile);
        var found = new List<string>();
        await foreach (var key in client.GetServer(server.EndPoint).KeysAsync(pattern: pattern, pageSize: 100))
        {
            found.Add((string)(await database.StringGetAsync(key))!);
        }

        var expected = names.Distinct().Where(n => n.StartsWith(hostile, StringComparison.Ordinal)).OrderBy(n => n, StringComparer.Ordinal);
        Assert.Equal(expected, found.OrderBy(n => n, StringComparer.Ordinal));
        Assert.Contains(hostile + "-mine", found);
    }
}

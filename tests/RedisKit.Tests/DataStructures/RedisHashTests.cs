using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using RedisKit.DataStructures;

namespace RedisKit.Tests.DataStructures;

public class RedisHashTests
{
    public sealed class Profile
    {
        public string? Name { get; set; }

        public string? Email { get; set; }

        public int Visits { get; set; }

        public DateTimeOffset? LastSeen { get; set; }

        public List<string>? Tags { get; set; }

        [JsonPropertyName("tz")]
        public string? TimeZone { get; set; }

        [JsonIgnore]
        public string? Secret { get; set; }
    }

    public sealed record Point(int X, int Y);

    private static ServiceProvider Build(string connectionString, string? prefix = null) =>
        TestHost.Build(connectionString, prefix, b => b.AddDataStructures());

    private static Profile Sample() => new()
    {
        Name = "Ada",
        Email = "ada@example.com",
        Visits = 3,
        LastSeen = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero),
        Tags = ["math", "engines"],
        TimeZone = "Europe/London",
        Secret = "not stored",
    };

    [Fact]
    public async Task SetAndGet_Object_StoresOneFieldPerPropertyAndReadsBack()
    {
        await using var provider = Build((await Servers.Redis()).ConnectionString);
        var hashes = provider.GetRequiredService<IRedisDataStructures>().Hash<Profile>("profile");
        var connection = provider.GetRequiredService<IRedisConnection>();

        await hashes.SetAsync("1", Sample());
        var read = await hashes.GetAsync("1");

        Assert.NotNull(read);
        Assert.Equal("Ada", read.Name);
        Assert.Equal(3, read.Visits);
        Assert.Equal(Sample().LastSeen, read.LastSeen);
        Assert.Equal(["math", "engines"], read.Tags);
        Assert.Equal("Europe/London", read.TimeZone);
        Assert.Null(read.Secret);

        var raw = (await (await connection.GetDatabaseAsync()).HashGetAllAsync(connection.Keys.Key("hash", "profile", "1")))
            .ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
        Assert.Equal("Ada", raw["name"]);         // strings raw, not JSON-quoted
        Assert.Equal("3", raw["visits"]);         // numbers as text: HINCRBY works
        Assert.Equal("[\"math\",\"engines\"]", raw["tags"]);
        Assert.Equal("Europe/London", raw["tz"]);
        Assert.False(raw.ContainsKey("secret"));
        Assert.Null(await hashes.GetAsync("missing"));
    }

    [Fact]
    public async Task Update_SetAndRemove_ChangesOnlyThoseFields()
    {
        await using var provider = Build((await Servers.Redis()).ConnectionString);
        var hashes = provider.GetRequiredService<IRedisDataStructures>().Hash<Profile>("profile");
        await hashes.SetAsync("1", Sample(), TimeSpan.FromMinutes(10));

        var changed = await hashes.UpdateAsync("1", u => u.Set(p => p.Email, "new@example.com").Set(p => p.Visits, 4).Remove(p => p.Tags).Set(p => p.TimeZone, null));

        Assert.Equal(4, changed);
        var read = (await hashes.GetAsync("1"))!;
        Assert.Equal("new@example.com", read.Email);
        Assert.Equal(4, read.Visits);
        Assert.Null(read.Tags);
        Assert.Null(read.TimeZone);
        Assert.Equal("Ada", read.Name);
        Assert.Equal(5, await hashes.IncrementAsync("1", p => p.Visits));
        Assert.Equal("new@example.com", await hashes.GetFieldAsync("1", p => p.Email));
        Assert.Equal(5, await hashes.GetFieldAsync("1", p => p.Visits));
        Assert.Throws<ArgumentException>(() => { _ = hashes.UpdateAsync("1", u => u.Set(p => p.Secret, "x")); });
        Assert.Throws<ArgumentException>(() => { _ = hashes.UpdateAsync("1", u => u.Set(p => p.Name!.Length, 1)); });
    }

    [Fact]
    public async Task UpdateDiff_AnotherWriterChangedOtherField_BothChangesSurvive()
    {
        await using var provider = Build((await Servers.Redis()).ConnectionString);
        var hashes = provider.GetRequiredService<IRedisDataStructures>().Hash<Profile>("profile");
        await hashes.SetAsync("1", Sample());

        var original = (await hashes.GetAsync("1"))!;
        var edited = (await hashes.GetAsync("1"))!;
        edited.Name = "Ada Lovelace";
        await hashes.UpdateAsync("1", u => u.Set(p => p.Email, "other-writer@example.com")); // a concurrent writer

        Assert.Equal(1, await hashes.UpdateAsync("1", original, edited));
        Assert.Equal(0, await hashes.UpdateAsync("1", edited, edited));

        var read = (await hashes.GetAsync("1"))!;
        Assert.Equal("Ada Lovelace", read.Name);
        Assert.Equal("other-writer@example.com", read.Email);
    }

    [Fact]
    public async Task Update_ConcurrentWritersOnSeparateConnections_KeepEachOthersFields()
    {
        var server = await Servers.Redis();
        var prefix = Servers.NewPrefix();
        await using var first = Build(server.ConnectionString, prefix);
        await using var second = Build(server.ConnectionString, prefix);
        var a = first.GetRequiredService<IRedisDataStructures>().Hash<Profile>("profile");
        var b = second.GetRequiredService<IRedisDataStructures>().Hash<Profile>("profile");
        await a.SetAsync("1", Sample());

        var names = Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                await a.UpdateAsync("1", u => u.Set(p => p.Name, "name-" + i));
            }
        });
        var visits = Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                // The edited copy must come from the same read: a second GET could already hold the
                // other writer's newer name, which the diff would then write back as a change.
                var before = (await b.GetAsync("1"))!;
                var after = System.Text.Json.JsonSerializer.Deserialize<Profile>(System.Text.Json.JsonSerializer.Serialize(before))!;
                after.Visits = 1000 + i;
                await b.UpdateAsync("1", before, after);
            }
        });
        await Task.WhenAll(names, visits);

        var read = (await a.GetAsync("1"))!;
        Assert.Equal("name-199", read.Name);
        Assert.Equal(1199, read.Visits);
        Assert.Equal("ada@example.com", read.Email);
    }

    [Fact]
    public async Task Get_CorruptField_IsMissAndHashIsKept()
    {
        await using var provider = Build((await Servers.Redis()).ConnectionString);
        var hashes = provider.GetRequiredService<IRedisDataStructures>().Hash<Profile>("profile");
        var connection = provider.GetRequiredService<IRedisConnection>();
        await hashes.SetAsync("1", Sample());
        var db = await connection.GetDatabaseAsync();
        await db.HashSetAsync(connection.Keys.Key("hash", "profile", "1"), "visits", "not a number");

        Assert.Null(await hashes.GetAsync("1"));
        Assert.True(await db.KeyExistsAsync(connection.Keys.Key("hash", "profile", "1")));
    }

    [Fact]
    public async Task SetAndGet_RecordWithConstructor_OnCluster_RoundTrips()
    {
        await using var provider = Build((await Servers.Cluster()).ConnectionString);
        var points = provider.GetRequiredService<IRedisDataStructures>().Hash<Point>("point");

        for (var i = 0; i < 20; i++)
        {
            await points.SetAsync("p" + i, new Point(i, -i));
            await points.UpdateAsync("p" + i, u => u.Set(p => p.Y, i * 10));
        }

        Assert.Equal(new Point(7, 70), await points.GetAsync("p7"));
        Assert.True(await points.DeleteAsync("p7"));
        Assert.Null(await points.GetAsync("p7"));
    }
}

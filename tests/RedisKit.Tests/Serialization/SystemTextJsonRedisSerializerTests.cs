using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RedisKit.Tests.Serialization;

public sealed record Product(int Id, string Name, decimal Price);

[JsonSerializable(typeof(Product))]
internal sealed partial class ProductJsonContext : JsonSerializerContext;

public class SystemTextJsonRedisSerializerTests
{
    private readonly SystemTextJsonRedisSerializer _serializer = SystemTextJsonRedisSerializer.Default;

    [Fact]
    public void RoundTrip_Record_KeepsValuesAndUsesCamelCase()
    {
        var bytes = _serializer.Serialize(new Product(1, "Lamp", 9.5m));

        Assert.Equal("""{"id":1,"name":"Lamp","price":9.5}""", Encoding.UTF8.GetString(bytes));
        Assert.Equal(new Product(1, "Lamp", 9.5m), _serializer.Deserialize<Product>(bytes));
    }

    [Theory]
    [InlineData("{\"id\":1,\"name\":")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("{\"id\":\"NaN-text\"}")]
    public void Deserialize_CorruptBytes_ThrowsRedisSerializationException(string corrupt)
    {
        var ex = Assert.Throws<RedisSerializationException>(() => _serializer.Deserialize<Product>(Encoding.UTF8.GetBytes(corrupt)));

        Assert.Equal(typeof(Product), ex.TargetType);
    }

    [Fact]
    public void Deserialize_RandomBinary_ThrowsRedisSerializationException()
    {
        var garbage = new byte[64];
        new Random(42).NextBytes(garbage);

        Assert.Throws<RedisSerializationException>(() => _serializer.Deserialize<Product>(garbage));
    }

    [Fact]
    public void SourceGeneratedContext_IsUsedAsResolver()
    {
        var serializer = new SystemTextJsonRedisSerializer(new JsonSerializerOptions { TypeInfoResolver = ProductJsonContext.Default });

        var bytes = serializer.Serialize(new Product(2, "Desk", 120m));

        Assert.Equal("""{"Id":2,"Name":"Desk","Price":120}""", Encoding.UTF8.GetString(bytes));
        Assert.Equal(new Product(2, "Desk", 120m), serializer.Deserialize<Product>(bytes));
        Assert.Same(ProductJsonContext.Default, serializer.Options.TypeInfoResolver);
    }
}

namespace RedisKit.Tests.Keys;

public class KeyBuilderTests
{
    private readonly KeyBuilder _keys = new("shop", maxKeyLength: 64);

    [Fact]
    public void Key_PlainSegments_JoinsWithColons()
    {
        Assert.Equal("shop:cache:product:42", (string?)_keys.Key("cache", "product", "42"));
    }

    [Fact]
    public void TaggedKey_WrapsTagInBraces()
    {
        Assert.Equal("shop:rl:{user-7}:login", (string?)_keys.TaggedKey("rl", "user-7", "login"));
    }

    [Fact]
    public void Key_SegmentsWithSeparators_NeverCollide()
    {
        var left = (string?)_keys.Key("cache", "a:b", "c");
        var right = (string?)_keys.Key("cache", "a", "b:c");

        Assert.NotEqual(left, right);
        Assert.Equal("shop:cache:a%3Ab:c", left);
    }

    [Fact]
    public void TaggedKey_UserBracesInTag_CannotChooseAnotherSlot()
    {
        var key = (string?)_keys.TaggedKey("sess", "}x{evil", "data");

        Assert.Equal("shop:sess:{%7Dx%7Bevil}:data", key);
    }

    [Fact]
    public void EncodeSegment_PercentItself_IsEncodedSoDecodingIsUnambiguous()
    {
        Assert.Equal("100%25", KeyBuilder.EncodeSegment("100%"));
        Assert.NotEqual(KeyBuilder.EncodeSegment("%3A"), KeyBuilder.EncodeSegment(":"));
    }

    [Fact]
    public void Key_TooLong_ThrowsNamingCapabilityNotKey()
    {
        var secret = new string('s', 100);

        var ex = Assert.Throws<RedisKeyTooLongException>(() => _keys.Key("sessions", secret));

        Assert.Equal("sessions", ex.Capability);
        Assert.Equal(64, ex.MaxLength);
        Assert.Contains("RedisKit:MaxKeyLength", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Key_MultiByteCharacters_CountsUtf8Bytes()
    {
        // 20 chars, 60 UTF-8 bytes: "shop:c:" (7) + 60 > 64.
        Assert.Throws<RedisKeyTooLongException>(() => _keys.Key("c", new string('€', 20)));
        _ = _keys.Key("c", new string('e', 20));
    }

    [Theory]
    [InlineData("a*b", "a\\*b")]
    [InlineData("a?b", "a\\?b")]
    [InlineData("[ab]", "\\[ab\\]")]
    [InlineData("a\\b", "a\\\\b")]
    [InlineData("plain", "plain")]
    public void EscapeGlob_SpecialCharacters_AreEscaped(string input, string expected)
    {
        Assert.Equal(expected, KeyBuilder.EscapeGlob(input));
    }

    [Theory]
    [InlineData("bad:prefix")]
    [InlineData("{tag}")]
    [InlineData("star*")]
    public void Constructor_PrefixWithSpecialCharacters_Throws(string prefix)
    {
        Assert.Throws<ArgumentException>(() => new KeyBuilder(prefix));
    }
}

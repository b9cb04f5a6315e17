using RedisKit.Samples.Shop;

await using var app = await ShopApp.BuildAsync(args);
await app.RunAsync();

/// <summary>Entry point (public so tests can reference the assembly).</summary>
public partial class Program;

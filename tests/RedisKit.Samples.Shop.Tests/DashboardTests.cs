using System.Diagnostics;
using System.Text.RegularExpressions;

namespace RedisKit.Samples.Shop.Tests;

/// <summary>Opens /admin/dashboard in headless Chromium (Debian <c>chromium</c>) and checks what it rendered.</summary>
[Collection(ShopCollection.Name)]
public sealed partial class DashboardTests(ShopFixture shop)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task Dashboard_InHeadlessChromium_RendersFiguresAndNonEmptyCharts()
    {
        Assert.True(File.Exists(Chromium), "chromium is required (./build.sh test installs it: apt-get install chromium)");
        var url = new Uri(shop.B, "admin/dashboard").ToString();
        // Some traffic so the figures move.
        for (var i = 0; i < 5; i++)
        {
            await shop.ClientB.GetAsync($"products/{i + 1}");
        }

        var dom = await RunChromiumAsync("--dump-dom", url);

        var samples = int.Parse(SamplesAttribute().Match(dom).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(samples >= 1, $"the page polled /admin/stats {samples} times");
        var points = CanvasPoints().Matches(dom).Select(m => int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(6, points.Count);
        Assert.All(points, p => Assert.True(p >= 1, "every chart plotted at least one point"));
        Assert.Matches(@"id=""v-mem"">\d+(\.\d)? (B|KB|MB|GB)<", dom);
        Assert.Matches(@"id=""v-clients"">\d+<", dom);
        Assert.Matches(@"id=""t-server"">Redis \d", dom);

        var screenshot = Path.Combine(ArtifactsDirectory(), "dashboard.png");
        File.Delete(screenshot);
        await RunChromiumAsync($"--screenshot={screenshot}", url);
        Assert.True(new FileInfo(screenshot).Length > 10_000, "the screenshot holds a rendered page");
    }

    private static async Task<string> RunChromiumAsync(string mode, string url)
    {
        var profile = Directory.CreateTempSubdirectory("shop-chromium-").FullName;
        try
        {
            var start = new ProcessStartInfo(Chromium)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[]
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", $"--user-data-dir={profile}", "--window-size=1200,900",
                "--virtual-time-budget=5000", mode, url,
            })
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("chromium did not finish within 60 s: " + await errors);
            }

            Assert.True(process.ExitCode == 0, $"chromium exited {process.ExitCode}: {await errors}");
            return await output;
        }
        finally
        {
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
                // Chromium may still be writing its profile; it is a temp dir.
            }
        }
    }

    /// <summary>tests/RedisKit.Samples.Shop.Tests/TestResults (gitignored).</summary>
    private static string ArtifactsDirectory()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "RedisKit.Samples.Shop.Tests.csproj")))
        {
            directory = directory.Parent;
        }

        var path = Path.Combine(directory?.FullName ?? AppContext.BaseDirectory, "TestResults");
        Directory.CreateDirectory(path);
        return path;
    }

    [GeneratedRegex(@"<body[^>]*data-samples=""(\d+)""")]
    private static partial Regex SamplesAttribute();

    [GeneratedRegex(@"<canvas id=""c-(\w+)"" data-points=""(\d+)""")]
    private static partial Regex CanvasPoints();
}

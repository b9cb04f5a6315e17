using System.Diagnostics;
using System.Globalization;

namespace RedisKit.Tests;

/// <summary>Runs the console workers under tests/Workers as separate OS processes.</summary>
public static class Workers
{
    /// <summary>The built worker dll (built with the tests through a ReferenceOutputAssembly=false reference).</summary>
    public static string PathOf(string name)
    {
        // tests/RedisKit.Tests/bin/<Configuration>/net10.0/ → tests/Workers/<name>/bin/<Configuration>/net10.0/<name>.dll
        var baseDirectory = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = baseDirectory.Name;
        var configuration = baseDirectory.Parent!.Name;
        var testsDirectory = baseDirectory.Parent.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(testsDirectory, "Workers", name, "bin", configuration, framework, name + ".dll");
        Assert.True(File.Exists(path), $"the worker is built with the tests: {path}");
        return path;
    }

    /// <summary>Runs <c>dotnet worker args…</c> and returns its exit code and output (killed after 90 s).</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string worker, params object[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(worker);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(Convert.ToString(argument, CultureInfo.InvariantCulture)!);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output + await error);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace RedisKit.Reliability;

/// <summary>What wrk printed: requests, non-2xx/3xx answers, socket errors and latency percentiles.</summary>
public sealed record WrkResult(long Requests, long Non2xx, long SocketErrors, long Timeouts, double RequestsPerSecond, double P50Ms, double P99Ms, double MaxMs, string Output);

/// <summary>Runs wrk with the reliability mix (<c>mix.lua</c>) against one sample instance.</summary>
public static partial class Wrk
{
    public static string Script => Path.Combine(Repository.Root, "benchmarks", "RedisKit.Reliability", "mix.lua");

    public static bool IsInstalled => RedisKit.Testing.RedisBinaries.Find("wrk") is not null;

    /// <summary>Starts wrk now; the task completes when its <paramref name="duration"/> is over.</summary>
    public static async Task<WrkResult> RunAsync(Uri target, TimeSpan duration, IEnumerable<string> sessions, int threads = 2, int connections = 32, CancellationToken cancellationToken = default)
    {
        var info = new ProcessStartInfo(RedisKit.Testing.RedisBinaries.Find("wrk") ?? throw new InvalidOperationException("wrk is not installed (apt-get install wrk)."))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            "-t", threads.ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture),
            "-d", ((int)Math.Ceiling(duration.TotalSeconds)).ToString(CultureInfo.InvariantCulture) + "s",
            "--timeout", "10s", "--latency", "-s", Script, target.ToString().TrimEnd('/'),
        })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["SHOP_SESSIONS"] = string.Join(',', sessions);
        using var process = Process.Start(info) ?? throw new InvalidOperationException("wrk could not be started.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        var text = await output.ConfigureAwait(false) + await error.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"wrk exited with {process.ExitCode}: {text}");
        }

        return Parse(text);
    }

    public static WrkResult Parse(string text)
    {
        long Long(Regex regex, int group = 1) => regex.Match(text) is { Success: true } m ? long.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture) : 0;
        var socket = SocketErrors().Match(text);
        long connect = 0, read = 0, write = 0, timeout = 0;
        if (socket.Success)
        {
            connect = long.Parse(socket.Groups[1].Value, CultureInfo.InvariantCulture);
            read = long.Parse(socket.Groups[2].Value, CultureInfo.InvariantCulture);
            write = long.Parse(socket.Groups[3].Value, CultureInfo.InvariantCulture);
            timeout = long.Parse(socket.Groups[4].Value, CultureInfo.InvariantCulture);
        }

        var rps = RequestsPerSecond().Match(text) is { Success: true } r ? double.Parse(r.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        return new WrkResult(
            Long(Requests()), Long(Non2xx()), connect + read + write + timeout, timeout, rps,
            Percentile(text, "50%"), Percentile(text, "99%"), Max(text), text);
    }

    private static double Percentile(string text, string label)
    {
        var match = Regex.Match(text, @"^\s*" + Regex.Escape(label) + @"\s+([\d.]+)(us|ms|s|m)\s*$", RegexOptions.Multiline);
        return match.Success ? ToMs(match.Groups[1].Value, match.Groups[2].Value) : double.NaN;
    }

    private static double Max(string text)
    {
        var match = LatencyLine().Match(text);
        return match.Success ? ToMs(match.Groups[1].Value, match.Groups[2].Value) : double.NaN;
    }

    private static double ToMs(string value, string unit)
    {
        var number = double.Parse(value, CultureInfo.InvariantCulture);
        return unit switch
        {
            "us" => number / 1000,
            "ms" => number,
            "s" => number * 1000,
            _ => number * 60_000,
        };
    }

    [GeneratedRegex(@"(\d+) requests in")]
    private static partial Regex Requests();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex Non2xx();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex SocketErrors();

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RequestsPerSecond();

    // "    Latency     1.23ms    4.56ms  78.90ms   95.00%": avg, stdev, max.
    [GeneratedRegex(@"Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m)")]
    private static partial Regex LatencyLine();
}

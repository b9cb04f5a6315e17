using System.Diagnostics;
using System.Globalization;
using RedisKit.Testing;

namespace RedisKit.Reliability;

/// <summary>
/// One instance of the Shop sample as its own OS process (so it can be SIGKILLed), on a loopback port,
/// with its output in a log file. Started from the sample's build output of the same configuration.
/// </summary>
public sealed class SampleProcess : IAsyncDisposable
{
    private readonly string[] _arguments;
    private Process? _process;

    private SampleProcess(int port, string logPath, string[] arguments)
    {
        Port = port;
        LogPath = logPath;
        _arguments = arguments;
    }

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");

    public string LogPath { get; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts the sample and waits until <c>/health/live</c> answers.</summary>
    public static async Task<SampleProcess> StartAsync(string logPath, IEnumerable<string> arguments, CancellationToken cancellationToken = default)
    {
        var sample = new SampleProcess(RedisBinaries.FreePort(), logPath, [.. arguments]);
        await sample.StartAgainAsync(cancellationToken).ConfigureAwait(false);
        return sample;
    }

    /// <summary>Starts the process again (same port and arguments) after <see cref="KillAsync"/> or <see cref="StopAsync"/>.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken = default)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            // The content root: the sample reads appsettings.json from here.
            WorkingDirectory = Path.GetDirectoryName(Repository.SampleDll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Repository.SampleDll);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add(Address.ToString().TrimEnd('/'));
        foreach (var argument in _arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        var process = Process.Start(info) ?? throw new InvalidOperationException("The sample could not be started.");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => log.Dispose();
        _process = process;

        using var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(90))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The sample exited with code {process.ExitCode}; see {LogPath}.");
            }

            try
            {
                using var response = await client.GetAsync(new Uri("health/live", UriKind.Relative), cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"The sample did not answer /health/live within 90 s; see {LogPath}.");
    }

    /// <summary>SIGKILL: the process dies at once, mid-request and mid-stream, without any shutdown code.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: false);
            await process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A graceful stop (SIGTERM: the host runs its shutdown).</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            _ = Signals.Term(process.Id);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await KillAsync().ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _process?.Dispose();
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        try
        {
            lock (log)
            {
                log.WriteLine(line);
            }
        }
        catch (ObjectDisposedException)
        {
            // The process has exited.
        }
    }
}

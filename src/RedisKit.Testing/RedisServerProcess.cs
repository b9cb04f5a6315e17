using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace RedisKit.Testing;

/// <summary>
/// A real <c>redis-server</c> child process on a free 127.0.0.1 port with its own temporary folder,
/// for integration tests and local development. It can be stopped, killed, paused (SIGSTOP: a server
/// that accepts connections but never answers) and started again on the same port mid-test, to prove
/// what code does while Redis is down or slow. Persistence is off; the folder is deleted on dispose.
/// </summary>
public sealed partial class RedisServerProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<RedisServerProcess, byte> Live = new();
    private readonly string[] _extraArguments;
    private Process? _process;
    private int _disposed;

    static RedisServerProcess()
    {
        // Children must not outlive a test run that ends without disposing them.
        AppDomain.CurrentDomain.ProcessExit += static (_, _) =>
        {
            foreach (var server in Live.Keys)
            {
                server.KillNow();
            }
        };
    }

    private readonly string? _sentinelConfig;

    private RedisServerProcess(int port, string directory, string[] extraArguments, string? sentinelConfig = null)
    {
        Port = port;
        DataDirectory = directory;
        _extraArguments = extraArguments;
        _sentinelConfig = sentinelConfig;
    }

    /// <summary>
    /// Starts a Sentinel (<c>redis-server sentinel.conf --sentinel</c>) monitoring the primary at
    /// <paramref name="primaryPort"/> as <paramref name="serviceName"/>, with quorum
    /// <paramref name="quorum"/> and a 1 s down-after window so failovers take seconds in tests.
    /// </summary>
    public static async Task<RedisServerProcess> StartSentinelAsync(int primaryPort, string serviceName = "mymaster", int quorum = 2, CancellationToken cancellationToken = default)
    {
        var port = RedisBinaries.FreePort();
        var directory = Directory.CreateTempSubdirectory("rediskit-sentinel-").FullName;
        var config = Path.Combine(directory, "sentinel.conf");
        var p = primaryPort.ToString(CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync(config, string.Join('\n',
            $"sentinel monitor {serviceName} 127.0.0.1 {p} {quorum.ToString(CultureInfo.InvariantCulture)}",
            $"sentinel down-after-milliseconds {serviceName} 1000",
            $"sentinel failover-timeout {serviceName} 5000",
            $"sentinel parallel-syncs {serviceName} 1",
            ""), cancellationToken).ConfigureAwait(false);
        var sentinel = new RedisServerProcess(port, directory, [], config);
        await sentinel.StartProcessAsync(cancellationToken).ConfigureAwait(false);
        Live[sentinel] = 0;
        return sentinel;
    }

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The server's working folder (logs, cluster config).</summary>
    public string DataDirectory { get; }

    /// <summary><c>127.0.0.1:{port}</c>.</summary>
    public string EndPoint => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>A StackExchange.Redis configuration string for this server (does not abort on connect failure).</summary>
    public string ConnectionString => $"{EndPoint},abortConnect=false,allowAdmin=true";

    /// <summary>Whether the process is running.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The process id while running.</summary>
    public int? ProcessId => IsRunning ? _process!.Id : null;

    /// <summary>
    /// Starts a server. <paramref name="extraArguments"/> are passed to <c>redis-server</c> as they are
    /// (for example <c>--notify-keyspace-events KEA</c>).
    /// </summary>
    /// <exception cref="RedisServerNotFoundException"><c>redis-server</c> is not installed.</exception>
    public static async Task<RedisServerProcess> StartAsync(IEnumerable<string>? extraArguments = null, int? port = null, CancellationToken cancellationToken = default)
    {
        var arguments = extraArguments?.ToArray() ?? [];
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var chosen = port ?? RedisBinaries.FreePort();
            var directory = Directory.CreateTempSubdirectory("rediskit-redis-").FullName;
            var server = new RedisServerProcess(chosen, directory, arguments);
            try
            {
                await server.StartProcessAsync(cancellationToken).ConfigureAwait(false);
                Live[server] = 0;
                return server;
            }
            catch (InvalidOperationException ex) when (port is null)
            {
                // Most likely the port was taken between probing and binding: try another one.
                last = ex;
                server.KillNow();
                TryDelete(directory);
            }
        }

        throw new InvalidOperationException("redis-server did not start after 3 attempts.", last);
    }

    /// <summary>Starts the server again on the same port after <see cref="StopAsync"/>, <see cref="KillAsync"/> or a crash.</summary>
    public Task StartAgainAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (IsRunning)
        {
            throw new InvalidOperationException("The server is already running.");
        }

        return StartProcessAsync(cancellationToken);
    }

    /// <summary>Stops the server gracefully (SIGTERM; persistence is off, so nothing is saved) and waits for it to exit.</summary>
    public Task StopAsync() => SignalAndWaitAsync(Signal.Term);

    /// <summary>Kills the server at once (SIGKILL), as a crash would.</summary>
    public Task KillAsync() => SignalAndWaitAsync(Signal.Kill);

    /// <summary>Freezes the server (SIGSTOP): connections stay open but nothing is answered, as with a hung or overloaded server.</summary>
    public void Pause() => Send(Signal.Stop);

    /// <summary>Thaws a server frozen by <see cref="Pause"/> (SIGCONT).</summary>
    public void Resume() => Send(Signal.Cont);

    /// <summary>Stops and starts the server again on the same port.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync().ConfigureAwait(false);
        await StartAgainAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends one command with <c>redis-cli</c> and returns its raw output (for setup and assertions).</summary>
    public Task<string> CliAsync(params string[] arguments) => Cli.RunAsync(Port, arguments);

    private async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(RedisBinaries.RedisServer)
        {
            WorkingDirectory = DataDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] common =
        [
            "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", DataDirectory,
            "--daemonize", "no", "--protected-mode", "no", "--logfile", Path.Combine(DataDirectory, "redis.log"),
        ];
        var arguments = _sentinelConfig is null
            ? common.Concat(["--save", "", "--appendonly", "no"]).Concat(_extraArguments)
            : new[] { _sentinelConfig, "--sentinel" }.Concat(common);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server could not be started.");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with code {process.ExitCode} on port {Port}: {ReadLogTail()}");
            }

            if (await Resp.PingAsync(Port).ConfigureAwait(false))
            {
                // A port picked as free can be taken by another process before redis-server binds it; make
                // sure the server that answered is the one we started.
                var owner = await Resp.ProcessIdAsync(Port).ConfigureAwait(false);
                if (owner is null || owner == process.Id)
                {
                    return;
                }

                KillNow();
                throw new InvalidOperationException($"Port {Port} is served by another process ({owner}).");
            }

            await Task.Delay(25, cancellationToken).ConfigureAwait(false);
        }

        KillNow();
        throw new InvalidOperationException($"redis-server on port {Port} did not answer PING within 20 s: {ReadLogTail()}");
    }

    private string ReadLogTail()
    {
        try
        {
            var lines = File.ReadAllLines(Path.Combine(DataDirectory, "redis.log"));
            return string.Join(" | ", lines.TakeLast(5));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    private async Task SignalAndWaitAsync(Signal signal)
    {
        var process = _process;
        if (process is null || process.HasExited)
        {
            return;
        }

        Send(Signal.Cont);
        Send(signal);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            await process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    private void Send(Signal signal)
    {
        if (_process is { HasExited: false } process)
        {
            _ = NativeMethods.Kill(process.Id, (int)signal);
        }
    }

    private void KillNow()
    {
        try
        {
            if (_process is { HasExited: false } process)
            {
                process.Kill();
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Kills the server and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Live.TryRemove(this, out _);
        await KillAsync().ConfigureAwait(false);
        _process?.Dispose();
        TryDelete(DataDirectory);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private enum Signal
    {
        Kill = 9,
        Term = 15,
        Cont = 18,
        Stop = 19,
    }

    private static partial class NativeMethods
    {
        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        public static partial int Kill(int pid, int signal);
    }
}

/// <summary>Minimal RESP over a raw socket, so readiness checks need no client library.</summary>
internal static class Resp
{
    /// <summary>The <c>process_id</c> from <c>INFO server</c>, or null when it cannot be read (e.g. a password is required).</summary>
    public static async Task<int?> ProcessIdAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("INFO server\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var buffer = new byte[8192];
            var total = 0;
            while (total < buffer.Length)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(total), timeout.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                total += read;
                var text = Encoding.ASCII.GetString(buffer, 0, total);
                var at = text.IndexOf("process_id:", StringComparison.Ordinal);
                var end = at < 0 ? -1 : text.IndexOf('\r', at);
                if (end > 0)
                {
                    return int.TryParse(text.AsSpan(at + 11, end - at - 11), System.Globalization.CultureInfo.InvariantCulture, out var pid) ? pid : null;
                }

                if (text.StartsWith('-'))
                {
                    return null;
                }
            }

            return null;
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return null;
        }
    }

    public static async Task<bool> PingAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            var reply = Encoding.ASCII.GetString(buffer, 0, read);

            // "-LOADING" means not ready yet; "-NOAUTH" means ready but password-protected.
            return reply.StartsWith("+PONG", StringComparison.Ordinal) || reply.StartsWith("-NOAUTH", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }
}

/// <summary>Runs <c>redis-cli</c>.</summary>
internal static class Cli
{
    public static async Task<string> RunAsync(int port, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(RedisBinaries.RedisCli)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-h");
        info.ArgumentList.Add("127.0.0.1");
        info.ArgumentList.Add("-p");
        info.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("redis-cli could not be started.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        var text = await output.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli {string.Join(' ', info.ArgumentList)} failed ({process.ExitCode}): {text} {await error.ConfigureAwait(false)}");
        }

        return text;
    }
}

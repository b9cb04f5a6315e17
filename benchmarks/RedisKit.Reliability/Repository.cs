using System.Runtime.InteropServices;

namespace RedisKit.Reliability;

/// <summary>Paths in the repository this harness was built from.</summary>
public static class Repository
{
    private const string Configuration =
#if DEBUG
        "Debug";
#else
        "Release";
#endif

    /// <summary>The repository root (the folder holding RedisKit.slnx), found upwards from this assembly.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The Shop sample's dll, built in this harness's configuration (the project reference builds it first).</summary>
    public static string SampleDll => Path.Combine(Root, "samples", "RedisKit.Samples.Shop", "bin", Configuration, "net10.0", "RedisKit.Samples.Shop.dll");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RedisKit.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("RedisKit.slnx not found above " + AppContext.BaseDirectory);
    }
}

internal static partial class Signals
{
    public static int Term(int pid) => Kill(pid, 15);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

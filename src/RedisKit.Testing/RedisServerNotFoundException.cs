namespace RedisKit.Testing;

/// <summary><c>redis-server</c> (or <c>redis-cli</c>) is not installed where RedisKit.Testing looks.</summary>
public sealed class RedisServerNotFoundException : Exception
{
    /// <summary>Creates the exception for <paramref name="program"/>.</summary>
    public RedisServerNotFoundException(string program)
        : base($"{program} was not found on PATH (or in ${RedisBinaries.DirectoryVariable}). Install it with 'sudo apt-get install redis-server redis-tools' "
               + $"(Debian/Ubuntu), 'brew install redis' (macOS), or point ${RedisBinaries.DirectoryVariable} at the folder that holds it.")
    {
        Program = program;
    }

    /// <summary>The missing program.</summary>
    public string Program { get; }
}

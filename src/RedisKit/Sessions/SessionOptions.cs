using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RedisKit;

/// <summary>
/// Settings of the server-side session store (<see cref="ISessionStore"/>). Bound from
/// <c>RedisKit:Sessions</c>; validated when the host starts.
/// </summary>
public sealed class SessionOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "RedisKit:Sessions";

    /// <summary>
    /// Idle (sliding) timeout: a session not used for this long expires. Each load extends it, never
    /// beyond <see cref="AbsoluteTimeout"/>. Measured on the Redis server's clock. Default 20 minutes.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(20);

    /// <summary>
    /// Absolute lifetime: a session expires this long after it was created, however active it is.
    /// Must be at least <see cref="IdleTimeout"/>. Measured on the Redis server's clock. Default 8 hours.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan AbsoluteTimeout { get; set; } = TimeSpan.FromHours(8);

    /// <summary>
    /// The most concurrent sessions one user may have; creating one more evicts the oldest (in the same
    /// script). Default 10.
    /// </summary>
    [Range(1, 10_000)]
    public int MaxSessionsPerUser { get; set; } = 10;

    /// <summary>Client descriptions (for example a User-Agent) longer than this are truncated. Default 256.</summary>
    [Range(0, 4096)]
    public int MaxClientDescriptionLength { get; set; } = 256;
}

[OptionsValidator]
internal sealed partial class SessionOptionsDataAnnotationsValidator : IValidateOptions<SessionOptions>;

/// <summary>Checks what data annotations cannot: the absolute lifetime covers the idle timeout.</summary>
internal sealed class SessionOptionsValidator : IValidateOptions<SessionOptions>
{
    public ValidateOptionsResult Validate(string? name, SessionOptions options)
    {
        var annotations = new SessionOptionsDataAnnotationsValidator().Validate(name, options);
        if (annotations.Failed)
        {
            return annotations;
        }

        return options.AbsoluteTimeout < options.IdleTimeout
            ? ValidateOptionsResult.Fail("RedisKit:Sessions:AbsoluteTimeout must be at least RedisKit:Sessions:IdleTimeout.")
            : ValidateOptionsResult.Success;
    }
}

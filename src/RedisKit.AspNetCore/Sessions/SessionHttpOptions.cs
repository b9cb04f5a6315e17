using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using Microsoft.Extensions.Options;

namespace RedisKit.AspNetCore;

/// <summary>How HTTP requests carry and use RedisKit sessions (token mode, ticket store, 503 answers).</summary>
public sealed class SessionHttpOptions
{
    /// <summary>
    /// The header that carries a session id besides <c>Authorization: Bearer &lt;id&gt;</c>. Default
    /// <c>X-Session-Id</c>. Empty to accept only the Authorization header.
    /// </summary>
    [MaxLength(128)]
    public string SessionIdHeader { get; set; } = "X-Session-Id";

    /// <summary>Whether <c>Authorization: Bearer &lt;id&gt;</c> is read. Default true.</summary>
    public bool AcceptBearer { get; set; } = true;

    /// <summary>The <c>Retry-After</c> sent with a 503 when Redis is unavailable. Default 5 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The session field that holds the serialized authentication ticket (cookie mode). Default <c>aspnet.ticket</c>.</summary>
    [Required]
    [MinLength(1)]
    public string TicketField { get; set; } = "aspnet.ticket";

    /// <summary>
    /// Picks the user id of a signed-in principal for the per-user index (cookie mode). Default: the
    /// <see cref="ClaimTypes.NameIdentifier"/> claim, else the identity's name.
    /// </summary>
    public Func<ClaimsPrincipal, string?> UserIdSelector { get; set; } = DefaultUserId;

    /// <summary>The default <see cref="UserIdSelector"/>.</summary>
    public static string? DefaultUserId(ClaimsPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return principal.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? principal.Identity?.Name;
    }
}

[OptionsValidator]
internal sealed partial class SessionHttpOptionsValidator : IValidateOptions<SessionHttpOptions>;

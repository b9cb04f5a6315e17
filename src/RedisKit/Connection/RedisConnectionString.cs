using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace RedisKit;

/// <summary>
/// Turns the connection settings users write into StackExchange.Redis <see cref="ConfigurationOptions"/>:
/// <c>redis://</c> and <c>rediss://</c> URLs as well as StackExchange.Redis configuration strings.
/// </summary>
public static class RedisConnectionString
{
    private const int DefaultPort = 6379;

    /// <summary>
    /// Parses <paramref name="value"/>. URLs follow <c>redis://[[user]:password@]host[:port][/db]</c>
    /// (user and password percent-decoded, IPv6 hosts in brackets); anything else is read as a
    /// StackExchange.Redis configuration string.
    /// </summary>
    /// <exception cref="FormatException">The value is empty, malformed, or names no endpoint. The message never contains the password.</exception>
    public static ConfigurationOptions Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var trimmed = value.Trim();
        if (trimmed.Length == 0)
        {
            throw new FormatException("the connection string is empty.");
        }

        if (trimmed.StartsWith("redis://", StringComparison.OrdinalIgnoreCase)
            || trimmed.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
        {
            return ParseUrl(trimmed);
        }

        if (trimmed.Contains("://", StringComparison.Ordinal))
        {
            throw new FormatException("only the redis:// and rediss:// URL schemes are supported.");
        }

        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(trimmed, ignoreUnknown: false);
        }
        catch (ArgumentException ex)
        {
            // StackExchange.Redis names the keyword it did not understand; it does not echo the password.
            throw new FormatException(ex.Message, ex);
        }

        if (options.EndPoints.Count == 0 && string.IsNullOrEmpty(options.ServiceName))
        {
            throw new FormatException("no endpoint was given (expected host:port).");
        }

        return options;
    }

    private static ConfigurationOptions ParseUrl(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException("the URL is malformed (expected redis://[user:password@]host[:port][/db]).");
        }

        if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            throw new FormatException("query strings and fragments are not supported in redis:// URLs; use a StackExchange.Redis configuration string for extra settings.");
        }

        var options = new ConfigurationOptions();
        var port = uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port;
        if (uri.HostNameType == UriHostNameType.IPv6)
        {
            options.EndPoints.Add(new IPEndPoint(IPAddress.Parse(uri.Host.Trim('[', ']')), port));
        }
        else if (uri.HostNameType == UriHostNameType.IPv4)
        {
            options.EndPoints.Add(new IPEndPoint(IPAddress.Parse(uri.Host), port));
        }
        else
        {
            options.EndPoints.Add(uri.Host, port);
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var separator = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            if (separator < 0)
            {
                // redis://secret@host: a lone userinfo is the password (redis-cli and ioredis read it so).
                options.Password = Uri.UnescapeDataString(uri.UserInfo);
            }
            else
            {
                var user = Uri.UnescapeDataString(uri.UserInfo[..separator]);
                options.User = user.Length == 0 ? null : user;
                options.Password = Uri.UnescapeDataString(uri.UserInfo[(separator + 1)..]);
            }
        }

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var database) || database > 10_000)
            {
                throw new FormatException($"the database in the URL path must be a non-negative number, not '{path}'.");
            }

            options.DefaultDatabase = database;
        }

        if (uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase))
        {
            options.Ssl = true;
            options.SslHost = uri.IdnHost.Trim('[', ']');
        }

        return options;
    }

    /// <summary>Parses <c>host:port</c> (or <c>[ipv6]:port</c>, or a bare host with <paramref name="defaultPort"/>).</summary>
    public static bool TryParseEndPoint(string? value, int defaultPort, out EndPoint? endPoint)
    {
        endPoint = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        if (IPEndPoint.TryParse(value, out var ip))
        {
            endPoint = ip.Port == 0 ? new IPEndPoint(ip.Address, defaultPort) : ip;
            return true;
        }

        var colon = value.LastIndexOf(':');
        var host = colon < 0 ? value : value[..colon];
        var port = defaultPort;
        if (colon >= 0 && (!int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            return false;
        }

        if (Uri.CheckHostName(host) == UriHostNameType.Unknown)
        {
            return false;
        }

        endPoint = new DnsEndPoint(host, port);
        return true;
    }
}

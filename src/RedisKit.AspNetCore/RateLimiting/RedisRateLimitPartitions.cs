using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace RedisKit.AspNetCore.RateLimiting;

/// <summary>Ready-made partitioners for <see cref="RedisHttpRateLimiterOptions.PartitionBy"/>.</summary>
public static class RedisRateLimitPartitions
{
    /// <summary>
    /// Partitions by client IP (<c>ip:{address}</c>). <c>X-Forwarded-For</c> is honoured only when the connection comes
    /// from one of <paramref name="trustedProxies"/> (addresses such as <c>10.0.0.5</c> or networks such as
    /// <c>10.0.0.0/8</c>): the header is read right to left, skipping trusted proxies, and the first untrusted address
    /// is the client. From any other peer the header is ignored, so a client cannot choose its partition.
    /// </summary>
    public static Func<HttpContext, string> ClientIp(params string[] trustedProxies)
    {
        ArgumentNullException.ThrowIfNull(trustedProxies);
        var networks = trustedProxies.Select(ParseNetwork).ToArray();
        return context => "ip:" + ResolveClientIp(context, networks);
    }

    /// <summary>
    /// Partitions by authenticated user (<c>user:{NameIdentifier or Name}</c>); anonymous requests fall back to
    /// <paramref name="anonymous"/> (default: <see cref="ClientIp(string[])"/> with no trusted proxies).
    /// </summary>
    public static Func<HttpContext, string> User(Func<HttpContext, string>? anonymous = null)
    {
        var fallback = anonymous ?? ClientIp();
        return context =>
        {
            var user = context.User;
            if (user.Identity?.IsAuthenticated == true)
            {
                var id = user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.Identity.Name;
                if (!string.IsNullOrEmpty(id))
                {
                    return "user:" + id;
                }
            }

            return fallback(context);
        };
    }

    /// <summary>
    /// Partitions by API key from <paramref name="headerName"/> (<c>key:{SHA-256 of the key}</c>, so the secret never
    /// reaches Redis); requests without one fall back to <paramref name="missing"/> (default: client IP).
    /// </summary>
    public static Func<HttpContext, string> ApiKey(string headerName = "X-Api-Key", Func<HttpContext, string>? missing = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(headerName);
        var fallback = missing ?? ClientIp();
        return context =>
        {
            var value = context.Request.Headers[headerName].ToString();
            if (string.IsNullOrEmpty(value))
            {
                return fallback(context);
            }

            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(value));
            return "key:" + Convert.ToHexStringLower(hash.AsSpan(0, 16));
        };
    }

    /// <summary>
    /// Partitions by route (<c>route:{pattern}</c>, e.g. <c>route:/orders/{id}</c>): one shared limit per endpoint,
    /// optionally combined with <paramref name="inner"/> (e.g. per IP per route).
    /// </summary>
    public static Func<HttpContext, string> Route(Func<HttpContext, string>? inner = null) => context =>
    {
        var pattern = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path.Value ?? "/";
        return inner is null ? "route:" + pattern : "route:" + pattern + "|" + inner(context);
    };

    private static string ResolveClientIp(HttpContext context, IPNetwork[] trusted)
    {
        var remote = Normalize(context.Connection.RemoteIpAddress);
        if (remote is null)
        {
            return "unknown";
        }

        if (trusted.Length == 0 || !IsTrusted(remote, trusted))
        {
            return remote.ToString();
        }

        var header = context.Request.Headers["X-Forwarded-For"];
        if (header.Count == 0)
        {
            return remote.ToString();
        }

        var entries = string.Join(',', header.ToArray()).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var client = remote;
        for (var i = entries.Length - 1; i >= 0; i--)
        {
            if (!IPAddress.TryParse(entries[i], out var parsed))
            {
                break; // malformed: do not trust anything further left
            }

            client = Normalize(parsed)!;
            if (!IsTrusted(client, trusted))
            {
                break;
            }
        }

        return client.ToString();
    }

    private static bool IsTrusted(IPAddress address, IPNetwork[] trusted)
    {
        foreach (var network in trusted)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static IPAddress? Normalize(IPAddress? address) =>
        address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;

    private static IPNetwork ParseNetwork(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        if (value.Contains('/', StringComparison.Ordinal))
        {
            return IPNetwork.Parse(value);
        }

        var address = Normalize(IPAddress.Parse(value))!;
        return new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
    }
}

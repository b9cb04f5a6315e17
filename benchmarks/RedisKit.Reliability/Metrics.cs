using System.Globalization;
using System.Text.RegularExpressions;

namespace RedisKit.Reliability;

/// <summary>
/// The sample's own counts, read from its Prometheus endpoint: answered requests by route and status
/// (ASP.NET Core's <c>http.server.request.duration</c>) and product views by outcome. Two snapshots
/// subtract to the counts of the time between them, so a run's phases are counted server-side while wrk
/// keeps the load up across them.
/// </summary>
public sealed partial record MetricsSnapshot(IReadOnlyDictionary<(string Route, int Status), long> Requests, long ViewsQueued, long ViewsNotCounted)
{
    public static async Task<MetricsSnapshot> ScrapeAsync(HttpClient client, CancellationToken cancellationToken = default)
    {
        var text = await client.GetStringAsync(new Uri("metrics", UriKind.Relative), cancellationToken).ConfigureAwait(false);
        var requests = new Dictionary<(string, int), long>();
        foreach (Match match in RequestCount().Matches(text))
        {
            var labels = match.Groups[1].Value;
            var status = StatusLabel().Match(labels);
            var route = RouteLabel().Match(labels);
            if (!status.Success)
            {
                continue;
            }

            var key = (route.Success ? route.Groups[1].Value : "(no route)", int.Parse(status.Groups[1].Value, CultureInfo.InvariantCulture));
            requests[key] = requests.GetValueOrDefault(key) + (long)double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        }

        return new MetricsSnapshot(requests, Views(text, "queued"), Views(text, "not_counted"));
    }

    /// <summary>What happened between <paramref name="earlier"/> and this snapshot.</summary>
    public MetricsSnapshot Since(MetricsSnapshot earlier)
    {
        ArgumentNullException.ThrowIfNull(earlier);
        var delta = new Dictionary<(string, int), long>();
        foreach (var (key, value) in Requests)
        {
            var difference = value - earlier.Requests.GetValueOrDefault(key);
            if (difference != 0)
            {
                delta[key] = difference;
            }
        }

        return new MetricsSnapshot(delta, ViewsQueued - earlier.ViewsQueued, ViewsNotCounted - earlier.ViewsNotCounted);
    }

    public long Total => Requests.Values.Sum();

    public long WithStatus(Func<int, bool> predicate) => Requests.Where(r => predicate(r.Key.Status)).Sum(r => r.Value);

    public long Count(string route, Func<int, bool> predicate) => Requests.Where(r => r.Key.Route == route && predicate(r.Key.Status)).Sum(r => r.Value);

    private static long Views(string text, string outcome)
    {
        var match = Regex.Match(text, "^shop_product_views_total\\{[^}]*outcome=\"" + outcome + "\"[^}]*\\} ([0-9.eE+]+)", RegexOptions.Multiline);
        return match.Success ? (long)double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    // Label values may hold braces (http_route="/products/{id:long}"): match up to the last "} " of the line.
    [GeneratedRegex(@"^http_server_request_duration_seconds_count\{(.*)\} ([0-9.eE+]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex RequestCount();

    [GeneratedRegex("http_response_status_code=\"(\\d+)\"")]
    private static partial Regex StatusLabel();

    [GeneratedRegex("http_route=\"([^\"]*)\"")]
    private static partial Regex RouteLabel();
}

using System.Net;

namespace KbSync.Producer.Api;

/// <summary>
/// <c>/metrics</c> (Prometheus) on a listener of its own (<c>--metrics-urls</c>, default
/// <see cref="DefaultUrls"/>), never on the API's: its labels name every KB, so on the API's listener
/// it would tell any caller every KB's id and queue, and a scraper there would need a token of its
/// own. Requests are told apart by the port they arrived on (the socket's, which a client cannot
/// fake, unlike the Host header); the metrics listener answers nothing but <c>/metrics</c>, and the
/// API's listener never answers <c>/metrics</c>.
/// </summary>
public sealed class MetricsListener
{
    public const string DefaultUrls = "http://127.0.0.1:9464";

    private readonly HashSet<int> _ports;

    private MetricsListener(IReadOnlyList<BindingAddress> addresses)
    {
        Addresses = addresses;
        _ports = addresses.Select(a => a.Port).ToHashSet();
    }

    public IReadOnlyList<BindingAddress> Addresses { get; }

    /// <summary>Throws <see cref="ArgumentException"/> for an address that is not a URL, without a fixed port, or on a port the API listens on.</summary>
    public static MetricsListener Parse(string metricsUrls, string apiUrls)
    {
        var metrics = ParseUrls(metricsUrls, "--metrics-urls");
        var api = ParseUrls(apiUrls, "--urls");
        if (metrics.FirstOrDefault(m => m.Port == 0) is { } dynamic)
        {
            throw new ArgumentException($"The metrics listener {dynamic} needs a fixed port.");
        }

        if (metrics.FirstOrDefault(m => api.Any(a => a.Port == m.Port)) is { } shared)
        {
            throw new ArgumentException($"The metrics listener {shared} uses a port the API listens on; give it a port of its own.");
        }

        return new MetricsListener(metrics);
    }

    /// <summary>The addresses anyone but this machine could reach (say so at start-up: every KB's name is in the labels).</summary>
    public IEnumerable<BindingAddress> NotLoopback() =>
        Addresses.Where(a => !a.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) && !(IPAddress.TryParse(a.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip)));

    public bool Serves(HttpContext context) => _ports.Contains(context.Connection.LocalPort);

    /// <summary>Branches the metrics listener's requests off before authentication: <c>/metrics</c>, and 404 for anything else.</summary>
    public void Map(IApplicationBuilder app) => app.MapWhen(Serves, metrics =>
    {
        metrics.UseOpenTelemetryPrometheusScrapingEndpoint();
        metrics.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
    });

    private static List<BindingAddress> ParseUrls(string urls, string option)
    {
        var addresses = new List<BindingAddress>();
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            try
            {
                addresses.Add(BindingAddress.Parse(url));
            }
            catch (FormatException error)
            {
                throw new ArgumentException($"{option}: '{url}' is not an address to listen on ({error.Message}).", error);
            }
        }

        return addresses.Count > 0 ? addresses : throw new ArgumentException($"{option} names no address.");
    }
}

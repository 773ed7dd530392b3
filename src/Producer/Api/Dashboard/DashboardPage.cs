using System.Security.Cryptography;
using System.Text;

namespace KbSync.Producer.Api.Dashboard;

/// <summary>
/// The dashboard: one static HTML page (embedded resource <c>dashboard.html</c>) whose script reads
/// the API and draws with inline SVG. No CDN, nothing fetched but this API. Served with a content
/// security policy that allows only that one inline script (by its hash) and requests to this origin.
/// </summary>
public static class DashboardPage
{
    private const string ResourceName = "KbSync.Producer.Dashboard.html";

    public static string Html { get; } = Load();

    public static string ContentSecurityPolicy { get; } =
        $"default-src 'none'; script-src 'sha256-{ScriptHash(Html)}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public static WebApplication MapDashboard(this WebApplication app)
    {
        app.MapGet("/dashboard", (HttpContext context) =>
            {
                context.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
                context.Response.Headers.XContentTypeOptions = "nosniff";
                return Results.Content(Html, "text/html; charset=utf-8");
            })
            .WithName("Dashboard").WithSummary("The dashboard page: recent operations, live queues, wait percentiles and throughput over time.")
            .Produces<string>(StatusCodes.Status200OK, "text/html");
        app.MapGet("/", () => Results.Redirect("/dashboard")).ExcludeFromDescription();
        return app;
    }

    private static string Load()
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The embedded resource {ResourceName} is missing from the build.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>SHA-256 of the page's one inline script, as CSP's <c>'sha256-…'</c> source wants it.</summary>
    private static string ScriptHash(string html)
    {
        const string open = "<script>", close = "</script>";
        var start = html.IndexOf(open, StringComparison.Ordinal) + open.Length;
        var end = html.IndexOf(close, start, StringComparison.Ordinal);
        return Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(html[start..end])));
    }
}

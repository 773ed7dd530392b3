using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using KbSync.Producer.Api.Security;
using Microsoft.AspNetCore.Antiforgery;

namespace KbSync.Producer.Api.Dashboard;

/// <summary>
/// The dashboard: one static HTML page (embedded resource <c>dashboard.html</c>) whose script reads
/// the API and draws with inline SVG. No CDN, nothing fetched but this API. Served with a content
/// security policy that allows only that one inline script (by its hash), requests to this origin,
/// and forms posting to this origin (the sign-out button). Only for a signed-in user: an anonymous
/// visitor is sent to <c>/signin</c> (<see cref="BrowserPage"/>). The page names who is signed in;
/// the API it reads shows only that user's KBs.
/// </summary>
public static class DashboardPage
{
    private const string ResourceName = "KbSync.Producer.Dashboard.html";

    public static string Html { get; } = Load();

    public static string ContentSecurityPolicy { get; } =
        $"default-src 'none'; script-src 'sha256-{ScriptHash(Html)}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public static WebApplication MapDashboard(this WebApplication app)
    {
        app.MapGet("/dashboard", (HttpContext context, IAntiforgery antiforgery) => Render(context, antiforgery))
            .WithName("Dashboard").WithSummary("The dashboard page: recent operations, live queues, wait percentiles and throughput over time, of the signed-in user's KBs.")
            .Produces<string>(StatusCodes.Status200OK, "text/html").Produces(StatusCodes.Status302Found)
            .WithMetadata(BrowserPage.Instance);
        app.MapGet("/", () => Results.Redirect("/dashboard")).ExcludeFromDescription().WithMetadata(BrowserPage.Instance);
        return app;
    }

    /// <summary>The page with the signed-in user's name and the sign-out form's antiforgery token filled in (outside the script, so its hash holds).</summary>
    private static IResult Render(HttpContext context, IAntiforgery antiforgery)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var principal = context.User.ToPrincipal();
        var html = HtmlEncoder.Default;
        var page = Html
            .Replace("{{user}}", html.Encode(principal.Name), StringComparison.Ordinal)
            .Replace("{{role}}", html.Encode(principal.Role), StringComparison.Ordinal)
            .Replace("{{antiforgeryField}}", html.Encode(tokens.FormFieldName), StringComparison.Ordinal)
            .Replace("{{antiforgery}}", html.Encode(tokens.RequestToken ?? ""), StringComparison.Ordinal);
        PageHeaders.Apply(context.Response, ContentSecurityPolicy);
        return Results.Content(page, "text/html; charset=utf-8");
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
        var script = html[start..end];
        if (script.Contains("{{", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("dashboard.html's script must not hold a placeholder: filling it in would change the script's hash.");
        }

        return Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(script)));
    }
}

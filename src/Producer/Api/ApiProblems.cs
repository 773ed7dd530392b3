using Microsoft.AspNetCore.Authentication;

namespace KbSync.Producer.Api;

/// <summary>
/// Problem-details answers written outside an endpoint (by the authentication handler), and the way
/// an endpoint or the authorization middleware hands the reason for a 403 to that handler: in the
/// <see cref="AuthenticationProperties"/> of the forbid, so every 403 is written in one place.
/// </summary>
public static class ApiProblems
{
    private const string DetailItem = "kbsync.detail";

    public static async Task WriteAsync(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        var written = await context.RequestServices.GetRequiredService<IProblemDetailsService>().TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
        if (!written)
        {
            // the client accepts no JSON: the same words as plain text
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync($"{title}: {detail}");
        }
    }

    /// <summary>A 403 saying <paramref name="detail"/> (written by the scheme's forbid, as problem details).</summary>
    public static IResult Forbid(string detail) => Results.Forbid(WithDetail(detail));

    public static AuthenticationProperties WithDetail(string detail)
    {
        var properties = new AuthenticationProperties();
        properties.Items[DetailItem] = detail;
        return properties;
    }

    public static string? DetailOf(AuthenticationProperties? properties) =>
        properties?.Items.TryGetValue(DetailItem, out var detail) == true ? detail : null;
}

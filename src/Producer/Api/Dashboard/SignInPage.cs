using System.Text.Encodings.Web;
using KbSync.Persistence.Identity;
using KbSync.Producer.Api.Security;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace KbSync.Producer.Api.Dashboard;

/// <summary>
/// Signing in to the dashboard: <c>GET /signin</c> shows a form where the user pastes an API token;
/// <c>POST /signin</c> checks it and, instead of keeping the token in the browser, starts a session
/// (<see cref="ApiSchemes.Session"/>: an HttpOnly, SameSite=Strict cookie that remembers the token's
/// id, never the token, and ends when the token is revoked); <c>POST /signout</c> ends it. Both forms
/// carry an antiforgery token, so no other site can sign a browser in or out. The page has no script
/// at all, and its content security policy says so.
/// </summary>
public static class SignInPage
{
    public const string ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
    public const string DefaultReturnUrl = "/dashboard";

    /// <summary>The form's fields (besides the antiforgery token).</summary>
    public sealed record SignInForm(string? Token, string? ReturnUrl);

    public static WebApplication MapSignIn(this WebApplication app)
    {
        app.MapGet("/signin", (string? returnUrl, HttpContext context, IAntiforgery antiforgery) =>
                ForeignReturnUrl(returnUrl) ?? Page(context, antiforgery, LocalPath(returnUrl), error: null))
            .WithName("SignInPage").WithSummary("The dashboard's sign-in form: paste an API token.").Produces<string>(StatusCodes.Status200OK, "text/html").Session();
        app.MapPost("/signin", SignInAsync)
            .WithName("SignIn").WithSummary("Exchange an API token (form field 'token') for a dashboard session cookie; needs the form's antiforgery token.")
            .Produces(StatusCodes.Status302Found).Produces<string>(StatusCodes.Status401Unauthorized, "text/html").ProducesProblem(StatusCodes.Status400BadRequest).Session();
        app.MapPost("/signout", SignOutAsync)
            .WithName("SignOut").WithSummary("End the dashboard session; needs the dashboard's antiforgery token.")
            .Produces(StatusCodes.Status302Found).ProducesProblem(StatusCodes.Status400BadRequest).Session();
        return app;
    }

    /// <summary>
    /// Open to anyone, but authenticated by the session cookie when there is one, on GET and POST
    /// alike: an antiforgery token is issued to, and checked against, the same user.
    /// </summary>
    private static RouteHandlerBuilder Session(this RouteHandlerBuilder endpoint) =>
        endpoint.WithMetadata(new AuthorizeAttribute { AuthenticationSchemes = ApiSchemes.Session }).AllowAnonymous();

    private static async Task<IResult> SignInAsync([FromForm] SignInForm form, HttpContext context, IdentityStore identities, IAntiforgery antiforgery)
    {
        if (ForeignReturnUrl(form.ReturnUrl) is { } refused)
        {
            return refused;
        }

        if (string.IsNullOrWhiteSpace(form.Token))
        {
            return Results.Problem("token is empty: paste an API token (kbs_…), which an admin creates with 'kbsync token create <your name>'.",
                statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
        }

        var returnUrl = LocalPath(form.ReturnUrl);
        if (await identities.AuthenticateTokenAsync(form.Token?.Trim() ?? "", context.RequestAborted) is not { } signedIn)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"kbsync\"";
            return Page(context, antiforgery, returnUrl, "That token is unknown or revoked, or its principal is disabled.");
        }

        await context.SignInAsync(ApiSchemes.Session, PrincipalClaims.Create(signedIn.Principal, ApiSchemes.Session, signedIn.TokenId),
            new AuthenticationProperties { IsPersistent = false });
        return Results.Redirect(returnUrl);
    }

    private static async Task<IResult> SignOutAsync(IFormCollection form, HttpContext context)
    {
        _ = form; // a form parameter: the antiforgery token is checked before this runs
        await context.SignOutAsync(ApiSchemes.Session);
        return Results.Redirect("/signin");
    }

    /// <summary>Why a form was refused for its antiforgery token.</summary>
    public const string AntiforgeryRefused = "The form's antiforgery token is missing or is not one this API gave this browser: reload the page and submit the form again.";

    /// <summary>
    /// Says why a form was refused (400) for its antiforgery token: the framework refuses it before the
    /// endpoint runs, with a problem that would otherwise say only "Bad Request".
    /// </summary>
    public static void ExplainAntiforgery(ProblemDetailsContext context)
    {
        if (context.ProblemDetails.Status == StatusCodes.Status400BadRequest && context.ProblemDetails.Detail is null &&
            context.HttpContext.Features.Get<IAntiforgeryValidationFeature>() is { IsValid: false })
        {
            context.ProblemDetails.Detail = AntiforgeryRefused;
        }
    }

    /// <summary>
    /// A 400 for a return address that is not a path of this site: a sign-in link that would send the
    /// user elsewhere afterwards is a mistake or a phishing attempt, and is refused rather than quietly
    /// changed. Null when there is none, or it is a path here.
    /// </summary>
    private static IResult? ForeignReturnUrl(string? returnUrl) =>
        returnUrl is null || LocalPath(returnUrl) == returnUrl
            ? null
            : Results.Problem($"returnUrl '{returnUrl}' is not a path of this site (such as /dashboard): after signing in, KbSync returns only to its own pages.",
                statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    /// <summary>Where to go after signing in: a path of this site only (never another site: no open redirect).</summary>
    public static string LocalPath(string? returnUrl) =>
        returnUrl is { Length: > 0 } url && url[0] == '/' && (url.Length == 1 || url[1] is not ('/' or '\\')) && !url.Any(char.IsControl) ? url : DefaultReturnUrl;

    private static IResult Page(HttpContext context, IAntiforgery antiforgery, string returnUrl, string? error)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var html = HtmlEncoder.Default;
        var page = Template
            .Replace("{{error}}", error is null ? "" : $"<p id=\"sign-in-error\" role=\"alert\">{html.Encode(error)}</p>", StringComparison.Ordinal)
            .Replace("{{antiforgeryField}}", html.Encode(tokens.FormFieldName), StringComparison.Ordinal)
            .Replace("{{antiforgery}}", html.Encode(tokens.RequestToken ?? ""), StringComparison.Ordinal)
            .Replace("{{returnUrl}}", html.Encode(returnUrl), StringComparison.Ordinal);
        PageHeaders.Apply(context.Response, ContentSecurityPolicy);
        return Results.Content(page, "text/html; charset=utf-8", statusCode: error is null ? StatusCodes.Status200OK : StatusCodes.Status401Unauthorized);
    }

    private const string Template = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <link rel="icon" href="data:,">
        <title>Sign in to KbSync</title>
        <style>
          body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #1d2430; background: #f6f7f9; }
          header { padding: 12px 20px; background: #1d2430; color: #fff; }
          header h1 { font-size: 18px; margin: 0; }
          main { max-width: 520px; margin: 40px auto; background: #fff; border: 1px solid #d8dde6; border-radius: 6px; padding: 20px 24px; }
          label { display: block; font-weight: 600; margin-bottom: 6px; }
          input[type=password] { width: 100%; box-sizing: border-box; padding: 6px 8px; font: inherit; }
          button { margin-top: 12px; padding: 6px 16px; font: inherit; }
          p.hint { color: #667085; font-size: 13px; }
          #sign-in-error { color: #cf222e; font-weight: 600; }
        </style>
        </head>
        <body>
        <header><h1>KbSync</h1></header>
        <main>
          <h2>Sign in</h2>
          {{error}}
          <form method="post" action="/signin">
            <label for="token">API token</label>
            <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required placeholder="kbs_…">
            <input type="hidden" name="returnUrl" value="{{returnUrl}}">
            <input type="hidden" name="{{antiforgeryField}}" value="{{antiforgery}}">
            <button type="submit" id="sign-in">Sign in</button>
          </form>
          <p class="hint">An admin creates your token with <code>kbsync token create &lt;your name&gt;</code>. The browser keeps a session
          cookie, not the token; the session ends when you sign out, after a few hours, or when the token is revoked.</p>
        </main>
        </body>
        </html>
        """;
}

/// <summary>Headers every HTML page of the API is served with.</summary>
internal static class PageHeaders
{
    public static void Apply(HttpResponse response, string contentSecurityPolicy)
    {
        response.Headers.ContentSecurityPolicy = contentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.CacheControl = "no-store"; // the page holds an antiforgery token, and who is signed in
        response.Headers["Referrer-Policy"] = "no-referrer";
    }
}

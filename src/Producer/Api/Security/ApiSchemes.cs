using KbSync.Persistence.Identity;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Api.Security;

/// <summary>
/// Who a request is. Two schemes behind one policy scheme (<see cref="Default"/>):
/// <list type="bullet">
/// <item><see cref="Bearer"/>: an API token in <c>Authorization: Bearer</c> (<see cref="ApiTokenHandler"/>),
/// for programs, on every endpoint.</item>
/// <item><see cref="Session"/>: the dashboard's cookie, set by <c>/signin</c> in exchange for a token;
/// HttpOnly, SameSite=Strict, and read <b>only for GET and HEAD</b>: a state-changing request is
/// never authenticated by a cookie, so no other site can make a browser change anything (CSRF).</item>
/// </list>
/// Every 401 and 403 is written by the bearer scheme (problem details, <c>WWW-Authenticate: Bearer</c>),
/// whichever scheme authenticated. A fallback policy requires an authenticated principal on every
/// endpoint that does not say otherwise (<c>/health</c>, the sign-in page).
/// </summary>
public static class ApiSchemes
{
    public const string Default = "KbSync";
    public const string Bearer = "Bearer";
    public const string Session = "Session";
    public const string SessionCookieName = "kbsync.session";

    public static WebApplicationBuilder AddKbSyncApiSecurity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ApiOptions>().BindConfiguration(ApiOptions.Section);
        var keys = services.AddDataProtection().SetApplicationName("KbSync.Api"); // not the install path: every API process shares sessions
        if (builder.Configuration[$"{ApiOptions.Section}:{nameof(ApiOptions.KeyFolder)}"] is { Length: > 0 } folder)
        {
            keys.PersistKeysToFileSystem(new DirectoryInfo(folder));
        }

        services.AddAuthentication(Default)
            .AddPolicyScheme(Default, "API token or dashboard session", options =>
            {
                options.ForwardDefaultSelector = SelectScheme;
                options.ForwardChallenge = Bearer;
                options.ForwardForbid = Bearer;
            })
            .AddScheme<AuthenticationSchemeOptions, ApiTokenHandler>(Bearer, options => { })
            .AddCookie(Session, options =>
            {
                options.Cookie.Name = SessionCookieName;
                options.Cookie.HttpOnly = true;
                options.Cookie.SameSite = SameSiteMode.Strict;
                options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest; // Secure whenever the API is reached over HTTPS
                options.LoginPath = "/signin";
                options.ReturnUrlParameter = "returnUrl";
                options.SlidingExpiration = false;
                options.Events.OnValidatePrincipal = ValidateSessionAsync;
            });
        services.AddOptions<CookieAuthenticationOptions>(Session)
            .Configure<IOptions<ApiOptions>>((cookie, api) => cookie.ExpireTimeSpan = api.Value.SessionLifetime);

        services.AddSingleton<IAuthorizationHandler, KbRightHandler>();
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, ApiAuthorizationResults>();
        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddKbPolicies();
        services.AddAntiforgery(options =>
        {
            options.Cookie.Name = "kbsync.antiforgery";
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        return builder;
    }

    /// <summary>
    /// The bearer scheme when the request has an Authorization header; the session cookie for a GET or
    /// HEAD that carries one; otherwise the bearer scheme again (which finds nothing: anonymous).
    /// </summary>
    private static string SelectScheme(HttpContext context)
    {
        var request = context.Request;
        if (request.Headers.Authorization.Count > 0)
        {
            return Bearer;
        }

        return (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)) && request.Cookies.ContainsKey(SessionCookieName) ? Session : Bearer;
    }

    /// <summary>
    /// Every request of a session checks the token it began with: revoking that token or disabling the
    /// principal ends the session at once, and a changed role applies at once.
    /// </summary>
    private static async Task ValidateSessionAsync(CookieValidatePrincipalContext context)
    {
        var principal = context.Principal?.TokenId() is { } tokenId
            ? await context.HttpContext.RequestServices.GetRequiredService<IdentityStore>().FindByTokenIdAsync(tokenId, context.HttpContext.RequestAborted)
            : null;
        if (principal is null)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(Session);
            return;
        }

        context.ReplacePrincipal(PrincipalClaims.Create(principal, Session, context.Principal!.TokenId()));
    }
}

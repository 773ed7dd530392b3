using System.Net.Http.Headers;
using System.Text.Encodings.Web;
using KbSync.Persistence.Identity;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Api.Security;

/// <summary>
/// The bearer scheme: <c>Authorization: Bearer kbs_…</c>, an opaque API token looked up by its
/// SHA-256 with <see cref="IdentityStore.AuthenticateAsync"/> on every request, so a revoked token or
/// a disabled principal is refused at once. It also answers every 401 and 403 of the API (the policy
/// scheme forwards challenges and forbids here, whichever scheme authenticated): problem details, a
/// 401 with <c>WWW-Authenticate: Bearer</c> (and <c>error="invalid_token"</c> when a token was sent
/// and refused, as RFC 6750 asks), a 403 saying what was missing.
/// </summary>
public sealed class ApiTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, IdentityStore identities)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private const string Realm = "kbsync";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var headers = Request.Headers.Authorization;
        if (headers.Count == 0)
        {
            return AuthenticateResult.NoResult();
        }

        if (headers.Count > 1 || !AuthenticationHeaderValue.TryParse(headers[0], out var header) ||
            !header.Scheme.Equals(ApiSchemes.Bearer, StringComparison.OrdinalIgnoreCase) || string.IsNullOrWhiteSpace(header.Parameter))
        {
            return AuthenticateResult.Fail("The Authorization header must be 'Bearer <token>', with one API token.");
        }

        var principal = await identities.AuthenticateAsync(header.Parameter.Trim(), Context.RequestAborted);
        return principal is null
            ? AuthenticateResult.Fail("The API token is unknown or revoked, or its principal is disabled.")
            : AuthenticateResult.Success(new AuthenticationTicket(PrincipalClaims.Create(principal, Scheme.Name), Scheme.Name));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var refused = (await HandleAuthenticateOnceSafeAsync()).Failure;
        Response.Headers.WWWAuthenticate = refused is null ? $"Bearer realm=\"{Realm}\"" : $"Bearer realm=\"{Realm}\", error=\"invalid_token\"";
        await ApiProblems.WriteAsync(Context, StatusCodes.Status401Unauthorized, "Unauthorized", refused?.Message ??
            "This needs an API token: send 'Authorization: Bearer <token>' (an admin creates one with 'kbsync token create <user>'), " +
            "or sign in to the dashboard at /signin.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ApiProblems.WriteAsync(Context, StatusCodes.Status403Forbidden, "Forbidden",
            ApiProblems.DetailOf(properties) ?? $"{Context.User.Identity?.Name ?? "This principal"} may not do this.");
}

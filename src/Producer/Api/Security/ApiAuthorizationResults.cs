using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace KbSync.Producer.Api.Security;

/// <summary>Marks an HTML page: an anonymous visitor is sent to the sign-in page rather than answered 401.</summary>
public sealed class BrowserPage
{
    public static BrowserPage Instance { get; } = new();
}

/// <summary>
/// What the authorization middleware does with a refusal: an anonymous visitor of a
/// <see cref="BrowserPage"/> is challenged by the session scheme (a redirect to <c>/signin</c> that comes
/// back here); a 403 carries the requirement's reason (<see cref="KbRightHandler"/>) to the scheme that
/// writes it. Everything else as ASP.NET Core does by default (401 and 403 written by
/// <see cref="ApiTokenHandler"/>).
/// </summary>
public sealed class ApiAuthorizationResults : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Challenged && context.GetEndpoint()?.Metadata.GetMetadata<BrowserPage>() is not null)
        {
            await context.ChallengeAsync(ApiSchemes.Session);
            return;
        }

        if (authorizeResult.Forbidden && authorizeResult.AuthorizationFailure?.FailureReasons.Select(r => r.Message).ToList() is { Count: > 0 } reasons)
        {
            await context.ForbidAsync(ApiProblems.WithDetail(string.Join(" ", reasons)));
            return;
        }

        await _default.HandleAsync(next, context, policy, authorizeResult);
    }
}

using KbSync.Persistence.Identity;
using Microsoft.AspNetCore.Authorization;

namespace KbSync.Producer.Api.Security;

/// <summary>
/// The per-KB policies: <c>kb:read</c>, <c>kb:write</c>, <c>kb:agent</c>, <c>kb:manage</c>, each an
/// authenticated principal holding that <see cref="KbRights">right</see> on the KB. An endpoint with a
/// <c>{kb}</c> route value names the policy (<c>.RequireAuthorization(KbPolicies.Write)</c>); an
/// endpoint that learns the KB later (from an operation, or a body) asks
/// <see cref="IAuthorizationService"/> with a <see cref="KbResource"/>.
/// </summary>
public static class KbPolicies
{
    public const string Read = "kb:" + KbRights.Read;
    public const string Write = "kb:" + KbRights.Write;
    public const string Agent = "kb:" + KbRights.Agent;
    public const string Manage = "kb:" + KbRights.Manage;

    public static AuthorizationBuilder AddKbPolicies(this AuthorizationBuilder authorization)
    {
        foreach (var right in KbRights.All)
        {
            authorization.AddPolicy("kb:" + right, policy => policy.RequireAuthenticatedUser().AddRequirements(new KbRightRequirement(right)));
        }

        return authorization;
    }
}

/// <summary>The caller must hold <paramref name="Right"/> on the KB (admins hold every right).</summary>
public sealed record KbRightRequirement(string Right) : IAuthorizationRequirement;

/// <summary>The KB an authorization is about, when it is not the request's <c>{kb}</c> route value.</summary>
public sealed record KbResource(string KbId);

/// <summary>
/// Decides <see cref="KbRightRequirement"/> for the KB of the resource: a <see cref="KbResource"/>, or
/// the <c>{kb}</c> route value when the middleware passes the request itself. No KB to decide about
/// fails closed. A refusal carries a reason, which becomes the 403's detail.
/// </summary>
public sealed class KbRightHandler(IdentityStore identities) : AuthorizationHandler<KbRightRequirement>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, KbRightRequirement requirement)
    {
        var kb = context.Resource switch
        {
            KbResource resource => resource.KbId,
            HttpContext http => http.GetRouteValue("kb") as string,
            _ => null,
        };
        if (kb is null || context.User.Identity?.IsAuthenticated != true)
        {
            return;
        }

        if (await identities.HasRightAsync(context.User.ToPrincipal(), kb, requirement.Right))
        {
            context.Succeed(requirement);
        }
        else
        {
            context.Fail(new AuthorizationFailureReason(this, $"This needs the '{requirement.Right}' right on KB '{kb}', which {context.User.Identity.Name} does not hold."));
        }
    }
}

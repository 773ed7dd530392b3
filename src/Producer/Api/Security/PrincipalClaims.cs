using System.Globalization;
using System.Security.Claims;
using KbSync.Persistence.Identity;

namespace KbSync.Producer.Api.Security;

/// <summary>
/// A <see cref="Principal"/> as claims and back: its id, name, e-mail, role (so <c>User.Identity.Name</c>
/// and <c>IsInRole</c> work), relay flag and broker user, and for a session the id of the token it
/// began with. Both schemes build their principal here, from the database row of this request (the
/// bearer scheme) or of this request's session check (the cookie scheme), so no claim is stale.
/// </summary>
public static class PrincipalClaims
{
    public const string TokenIdType = "kbsync:token_id";
    public const string RelayType = "kbsync:relay";
    public const string BrokerUserType = "kbsync:broker_user";

    public static ClaimsPrincipal Create(Principal principal, string scheme, Guid? tokenId = null)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, principal.Id.ToString()),
            new(ClaimTypes.Name, principal.Name),
            new(ClaimTypes.Email, principal.Email),
            new(ClaimTypes.Role, principal.Role),
        };
        if (principal.Relay)
        {
            claims.Add(new Claim(RelayType, "true"));
        }

        if (principal.BrokerUser is not null)
        {
            claims.Add(new Claim(BrokerUserType, principal.BrokerUser));
        }

        if (tokenId is { } id)
        {
            claims.Add(new Claim(TokenIdType, id.ToString()));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.Name, ClaimTypes.Role));
    }

    /// <summary>The signed-in principal; throws for an anonymous user (an endpoint only runs after authorization).</summary>
    public static Principal ToPrincipal(this ClaimsPrincipal user)
    {
        if (user.Identity?.IsAuthenticated != true || user.FindFirstValue(ClaimTypes.NameIdentifier) is not { } id)
        {
            throw new InvalidOperationException("No principal is signed in: the endpoint should have required authorization.");
        }

        return new Principal(
            Guid.Parse(id, CultureInfo.InvariantCulture),
            user.FindFirstValue(ClaimTypes.Name) ?? "",
            user.FindFirstValue(ClaimTypes.Email) ?? "",
            user.FindFirstValue(ClaimTypes.Role) ?? Roles.Member,
            user.FindFirstValue(BrokerUserType),
            user.HasClaim(RelayType, "true"));
    }

    public static Guid? TokenId(this ClaimsPrincipal user) =>
        Guid.TryParse(user.FindFirstValue(TokenIdType), CultureInfo.InvariantCulture, out var id) ? id : null;
}

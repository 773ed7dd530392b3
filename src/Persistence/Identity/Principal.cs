using KbSync.Persistence.Entities;

namespace KbSync.Persistence.Identity;

/// <summary>An authenticated principal, as the API and the workers see it.</summary>
public sealed record Principal(Guid Id, string Name, string Email, string Role, string? BrokerUser, bool Relay)
{
    public bool IsAdmin => Role == Roles.Admin;

    public static Principal From(PrincipalRecord row) => new(row.Id, row.Name, row.Email, row.Role, row.BrokerUser, row.Relay);
}

/// <summary>A principal signed in with an API token, and that token's id (never the token itself).</summary>
public sealed record AuthenticatedToken(Principal Principal, Guid TokenId);

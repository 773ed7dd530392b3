using KbSync.Contracts;
using KbSync.Persistence.Entities;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence.Identity;

/// <summary>
/// Principals, their API tokens and their per-KB grants (<c>kbsync user|token|grant|revoke</c>), and
/// the questions the API and the workers ask: who is this token, who is this broker user, may this
/// principal do that to this KB, which KBs may it read.
/// </summary>
public sealed class IdentityStore(IDbContextFactory<KbSyncDbContext> contexts)
{
    public const int MaxNameLength = 64;

    public async Task<Principal> AddPrincipalAsync(string name, string email, string role, string? brokerUser = null, bool relay = false, CancellationToken cancellationToken = default)
    {
        ValidateName(name);
        if (!Roles.IsRole(role))
        {
            throw new ArgumentException($"'{role}' is not a role: use {Roles.Admin} or {Roles.Member}.");
        }

        if (string.IsNullOrWhiteSpace(email) || email.Length > 254 || !email.Contains('@') || email.Any(c => char.IsControl(c) || c is '<' or '>' or ' '))
        {
            throw new ArgumentException($"'{email}' is not an e-mail address (it is the committer's e-mail of what {name} writes).");
        }

        if (brokerUser is not null && (brokerUser.Length is 0 or > 128 || brokerUser.Any(char.IsControl)))
        {
            throw new ArgumentException("The broker user must be a RabbitMQ user name of 1 to 128 characters.");
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (await db.Principals.AnyAsync(p => p.Name == name || (brokerUser != null && p.BrokerUser == brokerUser), cancellationToken))
        {
            throw new ArgumentException($"A principal named '{name}'{(brokerUser is null ? "" : $" or with broker user '{brokerUser}'")} exists already.");
        }

        var row = new PrincipalRecord { Id = Guid.NewGuid(), Name = name, Email = email, Role = role, BrokerUser = brokerUser, Relay = relay, CreatedAt = DateTimeOffset.UtcNow };
        db.Principals.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        return Principal.From(row);
    }

    public async Task<IReadOnlyList<PrincipalRecord>> ListPrincipalsAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Principals.AsNoTracking().OrderBy(p => p.Name).ToListAsync(cancellationToken);
    }

    /// <summary>Disables a principal: its tokens and broker user are refused from now on (its history stays).</summary>
    public async Task DisableAsync(string name, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        ValidateName(name); // a name no principal can have is bad input, not "not found"
        var row = await db.Principals.SingleOrDefaultAsync(p => p.Name == name, cancellationToken) ?? throw new KeyNotFoundException($"No principal '{name}'.");
        row.DisabledAt ??= DateTimeOffset.UtcNow;
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>A new API token for a principal: returned once, only its hash is kept.</summary>
    public async Task<(Guid TokenId, string Token)> CreateTokenAsync(string name, string label, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var principal = await ActiveAsync(db, name, cancellationToken);
        var token = ApiTokens.New();
        var row = new ApiTokenRecord { Id = Guid.NewGuid(), PrincipalId = principal.Id, Label = Limit(label, 100), Hash = ApiTokens.Hash(token), CreatedAt = DateTimeOffset.UtcNow };
        db.ApiTokens.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        return (row.Id, token);
    }

    public async Task RevokeTokenAsync(Guid tokenId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.ApiTokens.SingleOrDefaultAsync(t => t.Id == tokenId, cancellationToken) ?? throw new KeyNotFoundException($"No token {tokenId}.");
        row.RevokedAt ??= DateTimeOffset.UtcNow;
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>The principal a token belongs to; null for an unknown or revoked token or a disabled principal.</summary>
    public async Task<Principal?> AuthenticateAsync(string token, CancellationToken cancellationToken = default) =>
        (await AuthenticateTokenAsync(token, cancellationToken))?.Principal;

    /// <summary>
    /// Like <see cref="AuthenticateAsync"/>, with the token's id: a session begun with a token (the
    /// dashboard's cookie) remembers the id, never the token, and ends when that token is revoked
    /// (<see cref="FindByTokenIdAsync"/>).
    /// </summary>
    public async Task<AuthenticatedToken?> AuthenticateTokenAsync(string token, CancellationToken cancellationToken = default)
    {
        if (!ApiTokens.LooksLikeToken(token))
        {
            return null;
        }

        var hash = ApiTokens.Hash(token);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await (from t in db.ApiTokens
                         join p in db.Principals on t.PrincipalId equals p.Id
                         where t.Hash == hash && t.RevokedAt == null && p.DisabledAt == null
                         select new { Principal = p, TokenId = t.Id }).AsNoTracking().SingleOrDefaultAsync(cancellationToken);
        return row is null ? null : new AuthenticatedToken(Principal.From(row.Principal), row.TokenId);
    }

    /// <summary>The principal of token <paramref name="tokenId"/> as it is now; null once the token is revoked or the principal disabled.</summary>
    public async Task<Principal?> FindByTokenIdAsync(Guid tokenId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await (from t in db.ApiTokens
                         join p in db.Principals on t.PrincipalId equals p.Id
                         where t.Id == tokenId && t.RevokedAt == null && p.DisabledAt == null
                         select p).AsNoTracking().SingleOrDefaultAsync(cancellationToken);
        return row is null ? null : Principal.From(row);
    }

    /// <summary>The principal whose RabbitMQ user this is; null for none, or a disabled one.</summary>
    public async Task<Principal?> FindByBrokerUserAsync(string brokerUser, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Principals.AsNoTracking().SingleOrDefaultAsync(p => p.BrokerUser == brokerUser && p.DisabledAt == null, cancellationToken);
        return row is null ? null : Principal.From(row);
    }

    /// <summary>An active principal by name; null for none, or a disabled one.</summary>
    public async Task<Principal?> FindAsync(string name, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Principals.AsNoTracking().SingleOrDefaultAsync(p => p.Name == name && p.DisabledAt == null, cancellationToken);
        return row is null ? null : Principal.From(row);
    }

    public async Task GrantAsync(string kbId, string name, string right, CancellationToken cancellationToken = default)
    {
        ValidateGrant(kbId, right);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var principal = await ActiveAsync(db, name, cancellationToken);
        if (!await db.KbGrants.AnyAsync(g => g.KbId == kbId && g.PrincipalId == principal.Id && g.Right == right, cancellationToken))
        {
            db.KbGrants.Add(new KbGrantRecord { KbId = kbId, PrincipalId = principal.Id, Right = right });
            await db.SaveChangesAsync(cancellationToken);
        }
    }

    public async Task RevokeGrantAsync(string kbId, string name, string right, CancellationToken cancellationToken = default)
    {
        ValidateGrant(kbId, right);
        ValidateName(name);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var principal = await db.Principals.SingleOrDefaultAsync(p => p.Name == name, cancellationToken) ?? throw new KeyNotFoundException($"No principal '{name}'.");
        await db.KbGrants.Where(g => g.KbId == kbId && g.PrincipalId == principal.Id && g.Right == right).ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>Whether the principal may do <paramref name="right"/> to the KB (admins may do anything).</summary>
    public async Task<bool> HasRightAsync(Principal principal, string kbId, string right, CancellationToken cancellationToken = default) =>
        (await RightsOnAsync(principal, kbId, cancellationToken)).Contains(right);

    /// <summary>Every right the principal has on the KB, implied ones included (all of them for an admin).</summary>
    public async Task<IReadOnlySet<string>> RightsOnAsync(Principal principal, string kbId, CancellationToken cancellationToken = default)
    {
        if (principal.IsAdmin)
        {
            return KbRights.All.ToHashSet();
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var held = await db.KbGrants.Where(g => g.KbId == kbId && g.PrincipalId == principal.Id).Select(g => g.Right).ToListAsync(cancellationToken);
        return KbRights.All.Where(right => held.Any(h => KbRights.Gives(h, right))).ToHashSet();
    }

    /// <summary>The KBs the principal may read; null: every KB (an admin).</summary>
    public async Task<IReadOnlySet<string>?> ReadableKbsAsync(Principal principal, CancellationToken cancellationToken = default)
    {
        if (principal.IsAdmin)
        {
            return null;
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return (await db.KbGrants.Where(g => g.PrincipalId == principal.Id).Select(g => g.KbId).Distinct().ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// The rights the principal holds, by KB (as granted: <see cref="KbRights.Gives"/> says what each
    /// implies), in one query; for an admin, who holds every right on every KB, only its own grants.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlySet<string>>> GrantsOfAsync(Principal principal, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.KbGrants.Where(g => g.PrincipalId == principal.Id).Select(g => new { g.KbId, g.Right }).ToListAsync(cancellationToken);
        return rows.GroupBy(r => r.KbId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, IReadOnlySet<string> (g) => g.Select(r => r.Right).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
    }

    /// <summary>Every grant on a KB, by principal name.</summary>
    public async Task<IReadOnlyList<(string Principal, string Right)>> GrantsOnAsync(string kbId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await (from g in db.KbGrants
                          join p in db.Principals on g.PrincipalId equals p.Id
                          where g.KbId == kbId
                          orderby p.Name, g.Right
                          select new { p.Name, g.Right }).ToListAsync(cancellationToken);
        return rows.Select(r => (r.Name, r.Right)).ToList();
    }

    /// <summary>
    /// The first admin, for a fresh installation (<c>kbsync db migrate --admin NAME</c>): created with a
    /// token only while no admin exists; null when one does (nothing changes then).
    /// </summary>
    public async Task<(Principal Admin, string Token)?> BootstrapAdminAsync(string name, string email, CancellationToken cancellationToken = default)
    {
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            if (await db.Principals.AnyAsync(p => p.Role == Roles.Admin && p.DisabledAt == null, cancellationToken))
            {
                return null;
            }
        }

        var admin = await AddPrincipalAsync(name, email, Roles.Admin, cancellationToken: cancellationToken);
        var (_, token) = await CreateTokenAsync(name, "bootstrap", cancellationToken);
        return (admin, token);
    }

    /// <summary>The active principal of that name; a name no principal can have is an <see cref="ArgumentException"/> (bad input), not "not found".</summary>
    private static async Task<PrincipalRecord> ActiveAsync(KbSyncDbContext db, string name, CancellationToken cancellationToken)
    {
        ValidateName(name);
        return await db.Principals.SingleOrDefaultAsync(p => p.Name == name, cancellationToken) is { DisabledAt: null } row
            ? row
            : throw new KeyNotFoundException($"No active principal '{name}'.");
    }

    /// <summary>Whether a string can be a principal's name at all (letters, digits, '-', '_', '.'; checked before any lookup).</summary>
    public static bool IsName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxNameLength && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && char.IsAsciiLetterOrDigit(name[0]);

    private static void ValidateName(string name)
    {
        if (!IsName(name))
        {
            throw new ArgumentException($"'{name}' is not a principal name: 1 to {MaxNameLength} letters, digits, '-', '_' or '.', starting with a letter or digit.");
        }
    }

    private static void ValidateGrant(string kbId, string right)
    {
        KbIds.Validate(kbId);
        if (!KbRights.IsRight(right))
        {
            throw new ArgumentException($"'{right}' is not a right: use {string.Join(", ", KbRights.All)}.");
        }
    }

    private static string Limit(string value, int length) => value.Length <= length ? value : value[..length];
}

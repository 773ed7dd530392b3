using System.Security.Claims;
using KbSync.Persistence.Identity;

namespace KbSync.Producer.Api.Security;

/// <summary>
/// What the signed-in caller may see and do, KB by KB, read once per request (one query, none for an
/// admin): lists and statistics keep only <see cref="Readable"/> KBs, and a field only a manager may
/// see is shown where <see cref="May"/> says so. Bound as an endpoint parameter (<see cref="BindAsync"/>).
/// </summary>
public sealed class CallerKbs
{
    private readonly IReadOnlyDictionary<string, IReadOnlySet<string>> _grants;

    private CallerKbs(Principal principal, IReadOnlyDictionary<string, IReadOnlySet<string>> grants)
    {
        Principal = principal;
        _grants = grants;
    }

    public Principal Principal { get; }

    /// <summary>The KBs the caller may read, sorted; null: every KB (an admin).</summary>
    public IReadOnlyCollection<string>? Readable => Principal.IsAdmin ? null : _grants.Keys.Order(StringComparer.Ordinal).ToList();

    public bool May(string kbId, string right) =>
        Principal.IsAdmin || (_grants.TryGetValue(kbId, out var held) && held.Any(h => KbRights.Gives(h, right)));

    public bool MayRead(string kbId) => May(kbId, KbRights.Read);

    /// <summary>Every right the caller has on the KB (what each grant implies included).</summary>
    public IReadOnlyList<string> RightsOn(string kbId) => KbRights.All.Where(right => May(kbId, right)).ToList();

    public static async Task<CallerKbs> LoadAsync(ClaimsPrincipal user, IdentityStore identities, CancellationToken cancellationToken)
    {
        var principal = user.ToPrincipal();
        return new CallerKbs(principal, principal.IsAdmin ? new Dictionary<string, IReadOnlySet<string>>() : await identities.GrantsOfAsync(principal, cancellationToken));
    }

    public static async ValueTask<CallerKbs?> BindAsync(HttpContext context) =>
        await LoadAsync(context.User, context.RequestServices.GetRequiredService<IdentityStore>(), context.RequestAborted);
}

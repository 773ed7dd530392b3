using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Identity;

namespace KbSync.IntegrationTests.Api;

/// <summary>Members of a sandbox with the grants a test names, each with an API token, made through the product's <see cref="IdentityStore"/>.</summary>
public static class TestPrincipals
{
    /// <summary>Adds member <paramref name="name"/> with <paramref name="grants"/> (KB, right) and returns a new token of it.</summary>
    public static async Task<string> CreateAsync(KbSyncSandbox sandbox, string name, params (string Kb, string Right)[] grants)
    {
        var identities = Store(sandbox);
        await identities.AddPrincipalAsync(name, $"{name}@tests.kbsync.invalid", Roles.Member);
        foreach (var (kb, right) in grants)
        {
            await identities.GrantAsync(kb, name, right);
        }

        return (await identities.CreateTokenAsync(name, "tests")).Token;
    }

    public static IdentityStore Store(KbSyncSandbox sandbox) => new(sandbox.Database.Factory());

    /// <summary>A string shaped like a token that no principal holds.</summary>
    public static string UnknownToken() => ApiTokens.New();
}

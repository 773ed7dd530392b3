using System.Security.Cryptography;
using System.Text;

namespace KbSync.Persistence.Identity;

/// <summary>
/// API tokens: <c>kbs_</c> and 43 characters of base64url (256 random bits). Only the SHA-256 of a
/// token is stored: a token has too much entropy to be guessed, so a fast hash is enough, and a stolen
/// database holds nothing that signs in.
/// </summary>
public static class ApiTokens
{
    public const string Prefix = "kbs_";

    public static string New() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>A string shaped like a token (so nothing else is ever hashed and looked up).</summary>
    public static bool LooksLikeToken(string? value) => value is { Length: 47 } && value.StartsWith(Prefix, StringComparison.Ordinal);
}

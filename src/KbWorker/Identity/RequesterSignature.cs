using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using KbSync.KbWorker.Paths;

namespace KbSync.KbWorker.Identity;

/// <summary>
/// A requester (<c>requestedBy</c>, any text a producer sent) as the name and e-mail of a git
/// signature that libgit2 creates and git accepts. libgit2 refuses a name or e-mail with <c>&lt;</c>
/// or <c>&gt;</c>, or one that is empty once it has trimmed white space and <c>. , : ; " \ '</c> from
/// the ends; git's own checks also refuse line breaks. Before this, such a requester failed the
/// commit, which was taken for a damaged clone: the whole group of that KB's notes failed as
/// <c>corrupt_clone</c>, after cloning again.
/// </summary>
public static partial class RequesterSignature
{
    /// <summary>Used when the configured domain has nothing usable in it.</summary>
    public const string FallbackDomain = "users.kbsync.invalid";

    /// <summary>
    /// The signature for <paramref name="requestedBy"/>, never empty, as readable as it allows:
    /// <list type="bullet">
    /// <item><c>Name &lt;e-mail&gt;</c> is split into the two; a plain e-mail is the e-mail (and the name);</item>
    /// <item>otherwise the e-mail is <c>&lt;slug&gt;@&lt;domain&gt;</c>, or <c>u-&lt;hash&gt;@&lt;domain&gt;</c>
    /// when the name has no Latin letters or digits (different requesters keep different e-mails);</item>
    /// <item>in the name, control characters and runs of white space become one space, <c>&lt;</c> and
    /// <c>&gt;</c> become <c>(</c> and <c>)</c>, and what git trims from the ends is trimmed; a name of
    /// only such characters is kept in parentheses (<c>'</c> becomes <c>(')</c>).</item>
    /// </list>
    /// </summary>
    public static (string Name, string Email) Of(string? requestedBy, string emailDomain)
    {
        var requester = SafeText.WithoutLoneSurrogates(requestedBy ?? "");
        var name = requester;
        string? email = null;
        if (NameAndEmail().Match(requester) is { Success: true } match && AsEmail(match.Groups["email"].Value) is { } given)
        {
            (name, email) = (match.Groups["name"].Value, given);
        }
        else if (AsEmail(requester) is { } plain)
        {
            email = plain;
        }

        var cleanName = CleanName(name);
        if (cleanName.Length == 0)
        {
            cleanName = email ?? "unknown";
        }

        return (cleanName, email ?? $"{LocalPart(name, requester)}@{Domain(emailDomain)}");
    }

    /// <summary>Characters libgit2 trims from both ends of a name or e-mail (its <c>is_crud</c>).</summary>
    public static bool IsTrimmedByGit(char c) => c <= ' ' || c is '.' or ',' or ':' or ';' or '<' or '>' or '"' or '\\' or '\'';

    private static string CleanName(string name)
    {
        var spaced = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            var clean = char.IsControl(c) || char.IsWhiteSpace(c) ? ' ' : c switch { '<' => '(', '>' => ')', _ => c };
            if (clean != ' ' || (spaced.Length > 0 && spaced[^1] != ' '))
            {
                spaced.Append(clean);
            }
        }

        var visible = spaced.ToString().Trim();
        var trimmed = TrimForGit(visible);
        return trimmed.Length > 0 || visible.Length == 0 ? trimmed : $"({visible})";
    }

    /// <summary>The e-mail in <paramref name="text"/> if it is one git keeps as it is given (trimmed as git would), else null.</summary>
    private static string? AsEmail(string text)
    {
        var email = TrimForGit(text);
        var at = email.IndexOf('@');
        return at > 0 && at < email.Length - 1 && email.Length <= 254 && !email.Any(c => c is '<' or '>' || char.IsWhiteSpace(c) || char.IsControl(c))
            ? email
            : null;
    }

    private static string LocalPart(string name, string requester)
    {
        var slug = SafeText.Slugify(name);
        return slug != "untitled" || name.Contains("untitled", StringComparison.OrdinalIgnoreCase)
            ? slug
            : "u-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(requester)))[..12];
    }

    /// <summary>The configured domain with only what a domain may hold (letters, digits, <c>.</c> and <c>-</c>).</summary>
    private static string Domain(string emailDomain)
    {
        var domain = new string((emailDomain ?? "").Where(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-').ToArray()).Trim('.', '-');
        return domain.Length > 0 ? domain : FallbackDomain;
    }

    private static string TrimForGit(string text)
    {
        var start = 0;
        var end = text.Length;
        while (start < end && IsTrimmedByGit(text[start]))
        {
            start++;
        }

        while (end > start && IsTrimmedByGit(text[end - 1]))
        {
            end--;
        }

        return text[start..end];
    }

    /// <summary><c>Name &lt;e-mail&gt;</c>, the way git writes an identity.</summary>
    [GeneratedRegex(@"^(?<name>[^<>]*)<(?<email>[^<>]*)>\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex NameAndEmail();
}

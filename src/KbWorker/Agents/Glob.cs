using System.Text;
using System.Text.RegularExpressions;

namespace KbSync.KbWorker.Agents;

/// <summary>
/// File name patterns for <c>search_files</c>: <c>*</c> matches within one folder name, <c>**</c>
/// across folders, <c>?</c> one character; matched against the whole KB-relative path. A pattern
/// without <c>/</c> matches the file name in any folder (<c>*.md</c>).
/// </summary>
public static class Glob
{
    public static Regex ToRegex(string pattern)
    {
        pattern = pattern.Trim().Replace('\\', '/').TrimStart('/');
        if (!pattern.Contains('/'))
        {
            pattern = "**/" + pattern;
        }

        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                var slashAfter = i + 2 < pattern.Length && pattern[i + 2] == '/';
                regex.Append(slashAfter ? "(?:.*/)?" : ".*");
                i += slashAfter ? 2 : 1;
            }
            else if (c == '*')
            {
                regex.Append("[^/]*");
            }
            else if (c == '?')
            {
                regex.Append("[^/]");
            }
            else
            {
                regex.Append(Regex.Escape(c.ToString()));
            }
        }

        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    }
}

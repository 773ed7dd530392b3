using System.Globalization;
using System.Text;

namespace KbSync.KbWorker.Agents.Protection;

/// <summary>
/// Whether <c>git fsck</c> accepts a submodule URL (<c>gitmodulesUrl</c>): a port of git's <c>check_submodule_url</c>
/// (submodule-config.c) with the parts of <c>url_normalize</c> (urlmatch.c) and <c>url_decode</c> (url.c) it uses.
/// Refused: a URL that starts with <c>-</c> (git would pass it to a transport as an option: <c>--upload-pack=…</c>
/// runs a command on the next <c>git submodule update</c>); a relative or <c>git://</c> URL holding a new line once
/// percent-decoded, or whose leading <c>../</c> run into a <c>:</c> or <c>/</c> (CVE-2020-11008); an HTTP(S) or
/// FTP(S) URL that does not normalize (bad escape, host, port, or <c>..</c> above its root) or holds a new line
/// once decoded (credential helpers read line-based input: CVE-2020-5260). Anything else is git's to judge later.
/// Works on bytes as Latin-1 characters (<see cref="GitConfigReader"/>).
/// </summary>
public static class SubmoduleUrl
{
    private static readonly string[] RemoteSchemes = ["http://", "https://", "ftp://", "ftps://"];

    private const string Alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const string Digits = "0123456789";
    private const string SchemeChars = Alpha + Digits + "+.-";
    private const string HostChars = Alpha + Digits + ".-_[:]";
    private const string UnsafeChars = " <>\"%{}|\\^`";
    private const string Reserved = ":/?#[]@" + "!$&'()*+,;=";

    /// <summary>True when <c>git fsck</c> accepts the URL.</summary>
    public static bool IsAllowed(string url)
    {
        if (url.StartsWith('-'))
        {
            return false;
        }

        if (StartsWithDotSlash(url, 0) || StartsWithDotDotSlash(url, 0) || url.StartsWith("git://", StringComparison.Ordinal))
        {
            if (Decode(url).Contains('\n'))
            {
                return false;
            }

            var next = SkipLeadingDots(url, out var dotdots);
            return !(dotdots > 0 && next < url.Length && url[next] is ':' or '/');
        }

        if (CurlUrl(url) is { } curl)
        {
            return Normalize(curl) is { } normalized && !Decode(normalized).Contains('\n');
        }

        return true;
    }

    /// <summary>git's <c>url_to_curl_url</c>: the URL git-remote-curl would get, or null for another transport.</summary>
    private static string? CurlUrl(string url)
    {
        foreach (var helper in new[] { "http::", "https::", "ftp::", "ftps::" })
        {
            if (url.StartsWith(helper, StringComparison.Ordinal))
            {
                return url[helper.Length..];
            }
        }

        return RemoteSchemes.Any(s => url.StartsWith(s, StringComparison.Ordinal)) ? url : null;
    }

    private static bool IsSeparator(char c) => c is '/' or '\\';

    private static bool StartsWithDotSlash(string url, int at) => url.Length - at >= 2 && url[at] == '.' && IsSeparator(url[at + 1]);

    private static bool StartsWithDotDotSlash(string url, int at) => url.Length - at >= 3 && url[at] == '.' && url[at + 1] == '.' && IsSeparator(url[at + 2]);

    /// <summary>git's <c>count_leading_dotdots</c>: where the URL goes on after its leading <c>./</c> and <c>../</c>, and how many <c>../</c> there were.</summary>
    private static int SkipLeadingDots(string url, out int dotdots)
    {
        dotdots = 0;
        var at = 0;
        for (; ; )
        {
            if (StartsWithDotDotSlash(url, at))
            {
                dotdots++;
                at += 3;
            }
            else if (StartsWithDotSlash(url, at))
            {
                at += 2;
            }
            else
            {
                return at;
            }
        }
    }

    /// <summary>git's <c>url_decode</c>: <c>%XX</c> with two hex digits becomes that byte, unless it is <c>%00</c>.</summary>
    private static string Decode(string url)
    {
        var decoded = new StringBuilder(url.Length);
        for (var i = 0; i < url.Length; i++)
        {
            if (url[i] == '%' && url.Length - i >= 3 && HexByte(url, i + 1) is > 0 and var value)
            {
                decoded.Append((char)value);
                i += 2;
            }
            else
            {
                decoded.Append(url[i]);
            }
        }

        return decoded.ToString();
    }

    /// <summary>
    /// git's <c>url_normalize</c>, for the checks: null where it fails (a scheme without <c>://</c>, no host, a
    /// host with other characters than letters, digits and <c>.-_[:]</c>, a port outside 1..65535, a bad
    /// <c>%</c> escape, a <c>..</c> above the root of the path), else the normalized URL.
    /// </summary>
    private static string? Normalize(string url)
    {
        var spanned = Span(url, 0, SchemeChars);
        if (spanned == 0 || !Alpha.Contains(url[0]) || spanned + 3 > url.Length || url[spanned] != ':' || url[spanned + 1] != '/' || url[spanned + 2] != '/')
        {
            return null;
        }

        var norm = new StringBuilder(url[..(spanned + 3)].ToLowerInvariant());
        var at = spanned + 3;
        var slash = IndexOfAny(url, at, "/?#");
        var userEnd = url.IndexOf('@', at);
        if (userEnd >= 0 && userEnd < slash)
        {
            if (userEnd > at && !AppendNormalizedEscapes(norm, url, at, userEnd - at))
            {
                return null;
            }

            norm.Append('@');
            at = userEnd + 1;
        }

        if (at >= url.Length || ":/?#".Contains(url[at]))
        {
            return null; // no host (only file: URLs may have none, and they are not checked here)
        }

        var colon = slash - 1;
        while (colon > at && url[colon] != ':' && url[colon] != ']')
        {
            colon--;
        }

        if (url[colon] != ':')
        {
            colon = slash;
        }

        if (Span(url, at, HostChars) < colon - at)
        {
            return null;
        }

        norm.Append(url[at..colon].ToLowerInvariant());
        at = colon;
        if (colon < slash && !AppendPort(norm, url, colon + 1, slash))
        {
            return null;
        }

        at = slash;
        return AppendPath(norm, url, at);
    }

    /// <summary>The port between the <c>:</c> and <paramref name="slash"/>: leading zeros dropped, the scheme's default left out, else 1..65535.</summary>
    private static bool AppendPort(StringBuilder norm, string url, int at, int slash)
    {
        while (at < slash && url[at] == '0')
        {
            at++;
        }

        if (at == slash && url[at - 1] == '0')
        {
            at--;
        }

        var port = url[at..slash];
        var scheme = norm.ToString();
        if (port.Length == 0 || (port == "80" && scheme.StartsWith("http:", StringComparison.Ordinal)) || (port == "443" && scheme.StartsWith("https:", StringComparison.Ordinal)))
        {
            return true;
        }

        if (Span(port, 0, Digits) < port.Length || port.Length > 5 || int.Parse(port, CultureInfo.InvariantCulture) is 0 or > 65535)
        {
            return false;
        }

        norm.Append(':').Append(port);
        return true;
    }

    /// <summary>The path with <c>.</c> and <c>..</c> segments resolved (null for a <c>..</c> above the root), then the rest (query, fragment).</summary>
    private static string? AppendPath(StringBuilder norm, string url, int at)
    {
        var pathStart = norm.Length;
        norm.Append('/');
        if (at < url.Length && url[at] == '/')
        {
            at++;
        }

        for (; ; )
        {
            var segmentStart = norm.Length;
            var nextSlash = IndexOfAny(url, at, "/?#");
            var skipSlash = false;
            if (!AppendNormalizedEscapes(norm, url, at, nextSlash - at))
            {
                return null;
            }

            var segment = norm.ToString(segmentStart, norm.Length - segmentStart);
            if (segment == ".")
            {
                skipSlash = segmentStart == pathStart + 1;
                norm.Length -= skipSlash ? 1 : 2;
            }
            else if (segment == "..")
            {
                var previous = norm.Length - 3;
                if (previous == pathStart)
                {
                    return null;
                }

                while (norm[--previous] != '/')
                {
                }

                skipSlash = previous == pathStart;
                norm.Length = skipSlash ? previous + 1 : previous;
            }

            at = nextSlash;
            if (at >= url.Length || url[at] != '/')
            {
                break;
            }

            at++;
            if (!skipSlash)
            {
                norm.Append('/');
            }
        }

        return at < url.Length && !AppendNormalizedEscapes(norm, url, at, url.Length - at) ? null : norm.ToString();
    }

    /// <summary>
    /// git's <c>append_normalized_escapes</c> (with no extra characters to escape, and the reserved ones kept
    /// escaped): false for a <c>%</c> not followed by two hex digits.
    /// </summary>
    private static bool AppendNormalizedEscapes(StringBuilder norm, string from, int at, int length)
    {
        var end = at + length;
        while (at < end)
        {
            int c = from[at++];
            var wasEscaped = false;
            if (c == '%')
            {
                if (end - at < 2 || HexByte(from, at) is not (>= 0 and var value))
                {
                    return false;
                }

                c = value;
                at += 2;
                wasEscaped = true;
            }

            if (c <= 0x1F || c >= 0x7F || UnsafeChars.Contains((char)c) || (wasEscaped && Reserved.Contains((char)c)))
            {
                norm.Append('%').Append(c.ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                norm.Append((char)c);
            }
        }

        return true;
    }

    /// <summary>The byte two hex digits at <paramref name="at"/> spell, or -1.</summary>
    private static int HexByte(string text, int at) =>
        at + 1 < text.Length && HexDigit(text[at]) is >= 0 and var high && HexDigit(text[at + 1]) is >= 0 and var low ? (high << 4) | low : -1;

    private static int HexDigit(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>C's <c>strspn</c> from <paramref name="at"/>.</summary>
    private static int Span(string text, int at, string accepted)
    {
        var i = at;
        while (i < text.Length && accepted.Contains(text[i]))
        {
            i++;
        }

        return i - at;
    }

    /// <summary>C's <c>strcspn</c> from <paramref name="at"/>, as an index (the end when there is none).</summary>
    private static int IndexOfAny(string text, int at, string stops)
    {
        var i = text.IndexOfAny(stops.ToCharArray(), at);
        return i < 0 ? text.Length : i;
    }
}

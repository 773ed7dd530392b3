using System.Globalization;
using System.Text;

namespace KbSync.KbWorker.Paths;

/// <summary>
/// Text made safe to become part of a KB path or a commit: slugs (a note's file name and category
/// folders, a requester's e-mail) and text with no lone surrogates (which have no UTF-8 form).
/// Pure functions of their input, so a replayed request writes the same bytes.
/// </summary>
public static class SafeText
{
    public const int MaxSlugLength = 50;

    /// <summary>Lowercase ASCII letters and digits joined by '-', accents folded, at most <see cref="MaxSlugLength"/> characters; "untitled" when nothing is left.</summary>
    public static string Slugify(string? text)
    {
        var slug = new StringBuilder();
        foreach (var c in (text ?? "").Normalize(NormalizationForm.FormD))
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.NonSpacingMark)
            {
                continue;
            }

            if (char.IsAsciiLetterOrDigit(c))
            {
                slug.Append(char.ToLowerInvariant(c));
            }
            else if (slug.Length > 0 && slug[^1] != '-')
            {
                slug.Append('-');
            }
        }

        var result = slug.ToString().Trim('-');
        if (result.Length > MaxSlugLength)
        {
            result = result[..MaxSlugLength].TrimEnd('-');
        }

        return result.Length == 0 ? "untitled" : result;
    }

    /// <summary>
    /// The text with each lone surrogate (half of a UTF-16 pair) replaced by U+FFFD: it has no UTF-8
    /// form, so LibGit2Sharp refuses it (an exception, not a git error) and YAML cannot hold it.
    /// </summary>
    public static string WithoutLoneSurrogates(string text)
    {
        char[]? chars = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                chars ??= text.ToCharArray();
                chars[i] = '\uFFFD';
            }
        }

        return chars is null ? text : new string(chars);
    }
}

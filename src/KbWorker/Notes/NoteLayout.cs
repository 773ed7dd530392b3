using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using KbSync.Contracts;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Paths;

namespace KbSync.KbWorker.Notes;

/// <summary>
/// The original system's note layout, kept so existing KBs stay familiar:
/// <c>topics/&lt;category&gt;[/&lt;sub&gt;]/&lt;YYYY-MM-DD&gt;-&lt;slug&gt;.md</c> with YAML front matter, and one
/// index line per note. Unlike the original, the index lines go to one file per month
/// (<c>index/&lt;YYYY-MM&gt;.md</c>), linked from <c>index.md</c> when the month's file is created: git
/// stores whole files, so one index growing with every note made each note cost more as the KB
/// grew (see docs/benchmarks.md). Everything here is a pure function of the request (and, for
/// <see cref="ResolveFolder"/>, of the KB's tree), so a replayed request writes the same bytes.
/// <para>
/// Where someone else committed a file where the layout needs a folder (<c>topics/inbox</c>,
/// <c>index</c>), or a folder where it needs a file (<c>index/2026-12.md</c>, <c>index.md</c>), the
/// layout takes the next free sibling name, <see cref="Sibling"/>: <c>topics/inbox-2/…</c>,
/// <c>index-2/2026-12.md</c>, <c>index/2026-12-2.md</c>, up to <see cref="MaxSiblings"/>. Every later
/// note finds the same place, since the rule looks only at the tree.
/// </para>
/// </summary>
public static partial class NoteLayout
{
    public const string DefaultCategory = "inbox";
    public const string IndexPath = "index.md";
    public const string IndexHeading = "# Index";
    public const string IndexFolder = "index";
    public const int MaxTitleLength = 200;
    public const int MaxTags = 20;
    public const int MaxTagLength = 50;

    /// <summary>How many names a folder or index file of the layout may take (<c>inbox</c>, <c>inbox-2</c> … <c>inbox-100</c>) before the note fails with <c>path_conflict</c>.</summary>
    public const int MaxSiblings = 100;

    /// <summary>The given title, else the first non-empty line of the text (without leading <c>#</c>), else "Untitled".</summary>
    public static string TitleOf(NoteContent note)
    {
        var title = string.IsNullOrWhiteSpace(note.Title)
            ? note.Text.Split('\n').Select(l => l.Trim().TrimStart('#').Trim()).FirstOrDefault(l => l.Length > 0)
            : note.Title;
        title = new string((title ?? "").Where(c => !char.IsControl(c) || char.IsWhiteSpace(c)).ToArray());
        title = string.Join(' ', title.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        if (title.Length == 0)
        {
            return "Untitled";
        }

        if (title.Length <= MaxTitleLength)
        {
            return title;
        }

        var cut = char.IsHighSurrogate(title[MaxTitleLength - 1]) ? MaxTitleLength - 1 : MaxTitleLength;
        return title[..cut].TrimEnd() + "…";
    }

    /// <summary>
    /// The category folder: "inbox" when none is given, else one or two slugged segments
    /// ("Tech/DotNet" becomes "tech/dotnet"). Throws <see cref="ArgumentException"/> otherwise.
    /// </summary>
    public static string CategoryOf(string? category)
    {
        if (string.IsNullOrWhiteSpace(category))
        {
            return DefaultCategory;
        }

        var segments = category.Trim().Trim('/').Split('/');
        if (segments.Length > 2 || segments.Any(s => SafeText.Slugify(s) == "untitled" && !s.Trim().Equals("untitled", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"'{category}' is not a valid category: use one or two names of letters and digits, like 'ideas' or 'tech/dotnet'.");
        }

        // Names are made slugs ('Tech/DotNet' is tech/dotnet), but one the path guard refuses (.git in any
        // disguise, '..') is refused rather than quietly turned into another folder.
        if (segments.FirstOrDefault(IsRefusedName) is { } refused)
        {
            throw new ArgumentException($"'{category}' is not a valid category: '{refused.Trim()}' is not a name a KB folder may have.");
        }

        return string.Join('/', segments.Select(SafeText.Slugify));
    }

    private static bool IsRefusedName(string segment)
    {
        try
        {
            KbPathGuard.Normalize(segment.Trim());
            return false;
        }
        catch (UnsafePathException error)
        {
            return error.Reason is UnsafePathReasons.GitDir or UnsafePathReasons.Traversal;
        }
    }

    public static IReadOnlyList<string> TagsOf(IReadOnlyList<string>? tags)
    {
        var result = (tags ?? []).Select(t => t?.Trim() ?? "").Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (result.Count > MaxTags || result.Any(t => t.Length > MaxTagLength || t.Any(c => char.IsControl(c) || c == ',')))
        {
            throw new ArgumentException($"Tags must be at most {MaxTags}, each at most {MaxTagLength} characters without commas or control characters.");
        }

        return result;
    }

    /// <summary><c>topics/&lt;category&gt;/&lt;date&gt;-&lt;slug&gt;.md</c>, or with <c>-2</c>, <c>-3</c>... for the <paramref name="attempt"/>-th collision.</summary>
    public static string PathOf(string category, DateTimeOffset createdAt, string slug, int attempt = 1) =>
        $"{CategoryFolder(category)}/{FileNameOf(createdAt, slug, attempt)}";

    /// <summary><c>topics/&lt;category&gt;</c>: the folder of a category's notes, as the layout wants it.</summary>
    public static string CategoryFolder(string category) => $"topics/{category}";

    /// <summary><c>&lt;date&gt;-&lt;slug&gt;.md</c>, or with <c>-2</c>, <c>-3</c>... for the <paramref name="attempt"/>-th collision.</summary>
    public static string FileNameOf(DateTimeOffset createdAt, string slug, int attempt = 1) =>
        Sibling($"{createdAt.UtcDateTime:yyyy-MM-dd}-{slug}.md", attempt, isFile: true);

    /// <summary>
    /// The <paramref name="attempt"/>-th name for <paramref name="name"/> (the first is the name itself):
    /// <c>inbox-2</c> for a folder, <c>2026-12-2.md</c> for a file (the number before the extension).
    /// </summary>
    public static string Sibling(string name, int attempt, bool isFile)
    {
        if (attempt <= 1)
        {
            return name;
        }

        var suffix = "-" + attempt.ToString(CultureInfo.InvariantCulture);
        var dot = isFile ? name.LastIndexOf('.') : -1;
        return dot > 0 ? string.Concat(name.AsSpan(0, dot), suffix, name.AsSpan(dot)) : name + suffix;
    }

    /// <summary>
    /// Where the layout's <paramref name="folder"/> (<c>topics/inbox</c>, <c>index</c>) is in a KB whose
    /// tree says what is at a path (<paramref name="kindAt"/>): each part of it that is not a folder there
    /// (a file, symlink or submodule) is replaced by its first <see cref="Sibling"/> that is a folder or
    /// nothing. Looks up only the parts of the path and their siblings. Null when a part has no such
    /// sibling among the first <see cref="MaxSiblings"/>.
    /// </summary>
    public static string? ResolveFolder(string folder, Func<string, KbEntryKind?> kindAt)
    {
        var resolved = "";
        var inTree = true; // false once a part is new: nothing can be under it
        foreach (var part in folder.Split('/'))
        {
            var found = false;
            for (var attempt = 1; attempt <= MaxSiblings && !found; attempt++)
            {
                var candidate = (resolved.Length == 0 ? "" : resolved + "/") + Sibling(part, attempt, isFile: false);
                var kind = inTree ? kindAt(candidate) : null;
                if (kind is null or KbEntryKind.Folder)
                {
                    (resolved, inTree, found) = (candidate, kind is not null, true);
                }
            }

            if (!found)
            {
                return null;
            }
        }

        return resolved;
    }

    /// <summary>The note file: YAML front matter, a blank line, then the text with Unix line endings.</summary>
    public static string Render(NoteContent note, string title, string category, IReadOnlyList<string> tags, DateTimeOffset createdAt, string author, Guid operationId)
    {
        var file = new StringBuilder("---\n");
        file.Append("title: ").Append(Yaml(title)).Append('\n');
        file.Append("category: ").Append(YamlCategory(category)).Append('\n');
        if (tags.Count > 0)
        {
            file.Append("tags: [").AppendJoin(", ", tags.Select(Yaml)).Append("]\n");
        }

        file.Append("created_at: ").Append(createdAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)).Append('\n');
        file.Append("author: ").Append(Yaml(author)).Append('\n');
        file.Append("operation_id: ").Append(operationId.ToString("D")).Append('\n');
        file.Append("---\n\n");
        file.Append(NormalizeText(note.Text)).Append('\n');
        return file.ToString();
    }

    /// <summary><c>index/&lt;YYYY-MM&gt;.md</c>: the month's index file, by the UTC date of the note.</summary>
    public static string MonthIndexPath(DateTimeOffset createdAt) =>
        $"{IndexFolder}/{MonthIndexName(createdAt)}";

    /// <summary><c>&lt;YYYY-MM&gt;.md</c>: the name of the month's index file in the index folder.</summary>
    public static string MonthIndexName(DateTimeOffset createdAt) => $"{createdAt.UtcDateTime:yyyy-MM}.md";

    /// <summary>
    /// <c>- [title](../path) - date - `category`</c>: the original's index line, linking the note
    /// relative to the month's index file.
    /// </summary>
    public static string IndexLine(string title, string path, DateTimeOffset createdAt, string category) =>
        $"- [{title.Replace("\\", "\\\\").Replace("[", "\\[").Replace("]", "\\]")}](../{path}) - {createdAt.UtcDateTime:yyyy-MM-dd} - `{category}`";

    /// <summary>
    /// <c>- [YYYY-MM](index/YYYY-MM.md)</c>: the line in <c>index.md</c> linking a month's index file
    /// (at <paramref name="monthPath"/> when it is not where the layout wants it).
    /// </summary>
    public static string MonthLink(DateTimeOffset createdAt, string? monthPath = null) =>
        $"- [{createdAt.UtcDateTime:yyyy-MM}]({monthPath ?? MonthIndexPath(createdAt)})";

    /// <summary>The heading a new month's index file starts with.</summary>
    public static string MonthHeading(DateTimeOffset createdAt) => $"# Notes of {createdAt.UtcDateTime:yyyy-MM}";

    /// <summary>
    /// <paramref name="file"/> (null or empty when it does not exist yet, and then started with
    /// <paramref name="heading"/>) with <paramref name="line"/> appended on a line of its own.
    /// </summary>
    public static string AppendLine(string? file, string heading, string line)
    {
        if (string.IsNullOrEmpty(file))
        {
            return heading + "\n\n" + line + "\n";
        }

        return file.EndsWith('\n') ? file + line + "\n" : file + "\n" + line + "\n";
    }

    /// <summary>SHA-256 of the normalized text: the same text is not saved twice in one KB.</summary>
    public static string ContentHash(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(NormalizeText(text))));

    private static string NormalizeText(string text) => text.ReplaceLineEndings("\n").Trim();

    /// <summary>
    /// A YAML double-quoted scalar for any text: <c>"</c> and <c>\</c> escaped, and every character YAML
    /// may not hold as it is (control characters, <c>\0</c>, U+FEFF, U+FFFE, U+FFFF, and U+2028/U+2029, which
    /// YAML 1.1 reads as line breaks) as an escape, so the front matter stays one line per key whatever a
    /// producer sent. A lone surrogate, which has no UTF-8 form, becomes U+FFFD.
    /// </summary>
    private static string Yaml(string value)
    {
        var quoted = new StringBuilder("\"");
        foreach (var c in SafeText.WithoutLoneSurrogates(value))
        {
            switch (c)
            {
                case '"': quoted.Append("\\\""); break;
                case '\\': quoted.Append("\\\\"); break;
                case '\n': quoted.Append("\\n"); break;
                case '\r': quoted.Append("\\r"); break;
                case '\t': quoted.Append("\\t"); break;
                default:
                    if (char.IsControl(c) || c is '\u2028' or '\u2029' or '\uFEFF' or '\uFFFE' or '\uFFFF')
                    {
                        quoted.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        quoted.Append(c);
                    }

                    break;
            }
        }

        return quoted.Append('"').ToString();
    }

    /// <summary>
    /// The category as the original wrote it (<c>category: tech/dotnet</c>), quoted when a YAML reader
    /// would take the bare word for something else: a number or date (<c>2024</c>, <c>2024-01-01</c>) or
    /// a YAML 1.1 boolean or null (<c>yes</c>, <c>off</c>, <c>null</c>).
    /// </summary>
    private static string YamlCategory(string category) =>
        PlainCategory().IsMatch(category) && !YamlWords.Contains(category) ? category : Yaml(category);

    private static readonly HashSet<string> YamlWords = new(StringComparer.Ordinal) { "y", "n", "yes", "no", "true", "false", "on", "off", "null" };

    [GeneratedRegex("^[a-z][a-z0-9-]*(/[a-z][a-z0-9-]*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex PlainCategory();
}

using System.Buffers;
using System.Globalization;
using System.Text;

namespace KbSync.KbWorker.Paths;

/// <summary>
/// The one guard every write into a knowledge base goes through. Paths come from untrusted sources (users,
/// LLM agents), so they are checked lexically (<see cref="Normalize"/>) and then against the real working tree
/// (<see cref="ResolveInside"/>). Nothing is ever "resolved" or repaired: a suspicious path is refused with an
/// <see cref="UnsafePathException"/> carrying a stable <see cref="UnsafePathException.Reason"/>.
/// The rules are the same on every OS, so a KB written on Linux can still be checked out on Windows and macOS.
/// </summary>
public static class KbPathGuard
{
    /// <summary>Longest accepted normalized KB-relative path, in UTF-8 bytes.</summary>
    public const int MaxPathLength = 1024;

    /// <summary>Longest accepted single name (file or directory), in UTF-8 bytes.</summary>
    public const int MaxComponentLength = 255;

    /// <summary>
    /// Raw inputs longer than this (UTF-16 code units) are refused before any other work: even padded with
    /// "./" they could not be meant as a path of at most <see cref="MaxPathLength"/> bytes.
    /// </summary>
    private const int MaxRawLength = 4 * MaxPathLength;

    private const string WindowsInvalidChars = "<>:\"|?*";

    private static readonly SearchValues<char> WindowsInvalid = SearchValues.Create(WindowsInvalidChars);

    private static readonly SearchValues<char> IgnorableChars = SearchValues.Create(BuildIgnorableChars());

    private static readonly string[] ReservedDeviceNames = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];

    /// <summary>
    /// Lexical check. Returns the normalized KB-relative path: components joined by '/', no leading or trailing
    /// '/', '\' treated as a separator, "." and empty components removed. Throws <see cref="UnsafePathException"/>
    /// (see <see cref="UnsafePathReasons"/>) for anything that could escape the KB, touch .git, or not round-trip
    /// on Windows/macOS/Linux.
    /// </summary>
    public static string Normalize(string? relativePath)
    {
        if (string.IsNullOrWhiteSpace(relativePath))
        {
            throw Refuse(
                UnsafePathReasons.Empty,
                relativePath,
                "The path is empty. Give a file path relative to the knowledge base root, such as \"topics/inbox/note.md\".");
        }

        if (relativePath.Length > MaxRawLength)
        {
            throw Refuse(
                UnsafePathReasons.TooLong,
                relativePath,
                $"The path {Q(relativePath)} is far too long ({relativePath.Length} characters); "
                + $"a path may be at most {MaxPathLength} bytes in UTF-8. Use shorter names or fewer folders.");
        }

        CheckCharacters(relativePath);
        CheckNotAbsolute(relativePath);

        var kept = new List<string>();
        foreach (var component in relativePath.Split('/', '\\'))
        {
            if (component.Length == 0 || component == ".")
            {
                continue;
            }

            CheckComponent(relativePath, component);
            kept.Add(component);
        }

        if (kept.Count == 0)
        {
            throw Refuse(
                UnsafePathReasons.Empty,
                relativePath,
                $"The path {Q(relativePath)} names the knowledge base root itself, which is not a writable path. "
                + "Give a file path such as \"topics/inbox/note.md\".");
        }

        var normalized = string.Join('/', kept);
        var bytes = Encoding.UTF8.GetByteCount(normalized);
        if (bytes > MaxPathLength)
        {
            throw Refuse(
                UnsafePathReasons.TooLong,
                relativePath,
                $"The path {Q(relativePath)} is {bytes} bytes long in UTF-8; the limit is {MaxPathLength}. "
                + "Use shorter names or fewer folders.");
        }

        return normalized;
    }

    /// <summary>
    /// Full check against a real working tree: <see cref="Normalize"/>, then the combined full path must be strictly
    /// inside <see cref="Path.GetFullPath(string)"/> of <paramref name="root"/>, and no existing entry on the way
    /// (each parent directory under the root, and the final entry itself if it exists) may be a symbolic link,
    /// junction or other reparse point. The root itself and its ancestors are trusted and not inspected.
    /// Returns the full (OS-native) path to write to.
    /// </summary>
    /// <remarks>
    /// This is a check, not a lock: it cannot stop another process from planting a link between the check and the
    /// write. The worker owns its clone exclusively, so the only links to fear are those committed into the KB.
    /// </remarks>
    public static string ResolveInside(string root, string? relativePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);

        var normalized = Normalize(relativePath);

        var rootFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var rootPrefix = Path.EndsInDirectorySeparator(rootFull) ? rootFull : rootFull + Path.DirectorySeparatorChar;

        // Path.Join, never Path.Combine: Combine(root, rooted) silently returns "rooted".
        var full = Path.GetFullPath(Path.Join(rootPrefix, normalized.Replace('/', Path.DirectorySeparatorChar)));
        if (full.Length <= rootPrefix.Length || !full.StartsWith(rootPrefix, StringComparison.Ordinal))
        {
            throw Refuse(
                UnsafePathReasons.OutsideRoot,
                relativePath,
                $"The path {Q(relativePath)} resolves to {Q(full)}, which is not inside the knowledge base at {Q(rootFull)}. "
                + "Give a path relative to the knowledge base root.");
        }

        var current = rootFull;
        var components = normalized.Split('/');
        for (var i = 0; i < components.Length; i++)
        {
            current = Path.Join(current, components[i]);
            FileSystemInfo entry = new FileInfo(current);

            // Attributes of an entry that does not exist read as -1. A dangling link still exists (it is lstat-ed),
            // which matters: writing through it would create its target wherever it points.
            var attributes = entry.Attributes;
            var exists = (int)attributes != -1;
            if (!exists)
            {
                break; // nothing deeper can exist either
            }

            if ((attributes & FileAttributes.ReparsePoint) != 0 || entry.LinkTarget is not null)
            {
                var linkPath = string.Join('/', components, 0, i + 1);
                var what = i == components.Length - 1 ? "is" : "goes through";
                throw Refuse(
                    UnsafePathReasons.Symlink,
                    relativePath,
                    $"The path {Q(relativePath)} {what} {Q(linkPath)}, which is a symbolic link (or junction) in the knowledge base. "
                    + "Writes through links are refused because they could land outside the knowledge base; "
                    + "write to the real location instead, or remove the link.");
            }
        }

        return full;
    }

    /// <summary>
    /// Default-ignorable characters that HFS+/APFS drop when comparing names (so ".g\u200Cit" is ".git" on a Mac)
    /// and bidi controls that disguise names: U+200B-U+200F, U+202A-U+202E, U+2060-U+206F, U+FEFF.
    /// </summary>
    internal static bool IsIgnorable(char c) =>
        c is (>= '\u200B' and <= '\u200F') or (>= '\u202A' and <= '\u202E') or (>= '\u2060' and <= '\u206F') or '\uFEFF';

    /// <summary>Whole-string scan: control characters and broken UTF-16, wherever they are.</summary>
    private static void CheckCharacters(string path)
    {
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (char.IsControl(c))
            {
                throw Refuse(
                    UnsafePathReasons.ControlChar,
                    path,
                    $"The path {Q(path)} contains the control character {U(c)} at position {i + 1}. "
                    + "Remove it: names may not contain NUL, newlines, tabs or other control characters.");
            }

            if (char.IsHighSurrogate(c) && i + 1 < path.Length && char.IsLowSurrogate(path[i + 1]))
            {
                i++;
                continue;
            }

            if (char.IsSurrogate(c))
            {
                throw Refuse(
                    UnsafePathReasons.InvalidChar,
                    path,
                    $"The path {Q(path)} is not valid Unicode: it has a lone surrogate {U(c)} at position {i + 1}. "
                    + "Send the name as proper UTF-8/UTF-16 text.");
            }
        }
    }

    private static void CheckNotAbsolute(string path)
    {
        var first = path[0];
        var absolute =
            first is '/' or '\\' // rooted, UNC "\\server", device "\\?\" and "\\.\", "//server"
            || (path.Length >= 2 && char.IsAsciiLetter(first) && path[1] == ':') // "C:", "c:foo", "C:\x"
            || first == '~'; // home directory of the current or another user when a shell expands it

        if (absolute)
        {
            throw Refuse(
                UnsafePathReasons.Absolute,
                path,
                $"The path {Q(path)} is absolute (a root, drive, network share, device or home directory). "
                + "Give a path relative to the knowledge base root, such as \"topics/inbox/note.md\".");
        }
    }

    private static void CheckComponent(string path, string component)
    {
        // "..", and the Windows spellings of it (".. ", "...") which collapse to ".." or worse.
        if (component == ".." || (component.TrimEnd('.', ' ').Length == 0 && component.Count(c => c == '.') >= 2))
        {
            throw Refuse(
                UnsafePathReasons.Traversal,
                path,
                $"The path {Q(path)} contains the component {Q(component)}. Paths may not step up a folder, "
                + "even if they would stay inside the knowledge base: write the path from the root without \"..\".");
        }

        if (IsGitDirAlias(component))
        {
            throw Refuse(
                UnsafePathReasons.GitDir,
                path,
                $"The path {Q(path)} has the component {Q(component)}, which names (or is an alias of) the \".git\" "
                + "directory. Git's own files can never be written; choose another name (\".gitignore\", "
                + "\".gitattributes\" and \".github\" are fine).");
        }

        foreach (var c in component)
        {
            if (IsIgnorable(c))
            {
                throw Refuse(
                    UnsafePathReasons.InvalidChar,
                    path,
                    $"The name {Q(component)} in {Q(path)} contains the invisible formatting character {U(c)} "
                    + "(zero-width or text-direction control). Remove it: such names look like other names.");
            }
        }

        var invalidAt = component.AsSpan().IndexOfAny(WindowsInvalid);
        if (invalidAt >= 0)
        {
            throw Refuse(
                UnsafePathReasons.InvalidChar,
                path,
                $"The name {Q(component)} in {Q(path)} contains '{component[invalidAt]}'. "
                + $"Names may not contain any of {WindowsInvalidChars} (they are invalid on Windows, "
                + "and ':' opens alternate data streams); replace it, e.g. with '-'.");
        }

        if (component[^1] is '.' or ' ')
        {
            throw Refuse(
                UnsafePathReasons.InvalidChar,
                path,
                $"The name {Q(component)} in {Q(path)} ends with a {(component[^1] == '.' ? "dot" : "space")}, "
                + "which Windows silently strips (so it would name another file there). Remove the trailing character.");
        }

        if (IsReservedDeviceName(component))
        {
            throw Refuse(
                UnsafePathReasons.ReservedName,
                path,
                $"The name {Q(component)} in {Q(path)} is a reserved device name on Windows "
                + "(CON, PRN, AUX, NUL, COM0-9, LPT0-9, with or without an extension). Rename it, e.g. to \"notes-"
                + $"{component}\".");
        }

        var bytes = Encoding.UTF8.GetByteCount(component);
        if (bytes > MaxComponentLength)
        {
            throw Refuse(
                UnsafePathReasons.TooLong,
                path,
                $"The name {Q(component)} in {Q(path)} is {bytes} bytes long in UTF-8; "
                + $"a single name may be at most {MaxComponentLength}. Shorten it.");
        }
    }

    /// <summary>
    /// ".git" in any case, after what Windows and macOS ignore when opening a name: invisible characters
    /// (HFS+), an NTFS stream suffix (".git::$INDEX_ALLOCATION", ".git:x"), trailing dots and spaces (".git. . "),
    /// and its 8.3 short name ("GIT~1"; any "GIT~n" is refused since the number depends on what else exists).
    /// </summary>
    private static bool IsGitDirAlias(string component)
    {
        var name = component;
        if (name.AsSpan().ContainsAny(IgnorableChars))
        {
            var builder = new StringBuilder(name.Length);
            foreach (var c in name)
            {
                if (!IsIgnorable(c))
                {
                    builder.Append(c);
                }
            }

            name = builder.ToString();
        }

        var colon = name.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            name = name[..colon];
        }

        name = name.TrimEnd('.', ' ');

        if (name.Equals(".git", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        const string shortPrefix = "git~";
        return name.Length > shortPrefix.Length
            && name.StartsWith(shortPrefix, StringComparison.OrdinalIgnoreCase)
            && name.AsSpan(shortPrefix.Length).IndexOfAnyExceptInRange('0', '9') < 0;
    }

    private static string BuildIgnorableChars()
    {
        var builder = new StringBuilder();
        for (var c = '\u2000'; c <= '\u2070'; c++)
        {
            if (IsIgnorable(c))
            {
                builder.Append(c);
            }
        }

        return builder.Append('\uFEFF').ToString();
    }

    /// <summary>
    /// CON, PRN, AUX, NUL, CONIN$, CONOUT$, COM0-9, LPT0-9 and COM/LPT with superscript 1-3, in any case, alone or
    /// followed by an extension ("nul.tar.gz"), and with spaces before the extension ("CON .md").
    /// </summary>
    private static bool IsReservedDeviceName(string component)
    {
        var dot = component.IndexOf('.', StringComparison.Ordinal);
        var stem = (dot >= 0 ? component[..dot] : component).TrimEnd(' ');

        foreach (var reserved in ReservedDeviceNames)
        {
            if (stem.Equals(reserved, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return stem.Length == 4
            && (stem.StartsWith("COM", StringComparison.OrdinalIgnoreCase)
                || stem.StartsWith("LPT", StringComparison.OrdinalIgnoreCase))
            && stem[3] is (>= '0' and <= '9') or '\u00B9' or '\u00B2' or '\u00B3';
    }

    private static UnsafePathException Refuse(string reason, string? path, string message) =>
        new(reason, path, message);

    private static string Q(string? value) => UnsafePathException.Quote(value);

    private static string U(char c) => "U+" + ((int)c).ToString("X4", CultureInfo.InvariantCulture);
}

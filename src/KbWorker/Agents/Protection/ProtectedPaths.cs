using KbSync.KbWorker.Git;
using KbSync.KbWorker.Notes;
using KbSync.Persistence.KnowledgeBases;

namespace KbSync.KbWorker.Agents.Protection;

/// <summary>
/// Which paths of a KB only principals with <c>manage</c> may create, change or delete: the KB's own list, or
/// <see cref="ProtectedPathList.Defaults"/> (the entries' syntax is there). A path is matched part by part without
/// regard to case, with each part that git would open as one of its dotfiles (<c>GITMOD~1</c>, <c>.GitModules</c>)
/// read as that file (<see cref="GitDotfiles"/>): a case-insensitive checkout (macOS, Windows) writes
/// <c>.GitAttributes</c> where git reads <c>.gitattributes</c>. Paths reach this class through the path guard, which
/// already refuses the other aliases (trailing dots, invisible characters, streams).
/// <para>
/// An entry that cannot be read (written by something that skipped <see cref="ProtectedPathList.NormalizeEntry"/>)
/// protects every path: a broken list fails closed, and the failure names the entry to fix.
/// </para>
/// </summary>
public sealed class ProtectedPaths
{
    private readonly IReadOnlyList<Entry> _entries;

    private ProtectedPaths(IReadOnlyList<Entry> entries) => _entries = entries;

    /// <summary>The defaults.</summary>
    public static ProtectedPaths Default { get; } = Of(null);

    /// <summary>The entries, as listed.</summary>
    public IReadOnlyList<string> Entries => _entries.Select(e => e.Text).ToList();

    /// <param name="kbList">The KB's own list (<c>KnowledgeBaseRecord.ProtectedPaths</c>); null for the defaults.</param>
    public static ProtectedPaths Of(IReadOnlyList<string>? kbList) =>
        new(ProtectedPathList.Effective(kbList).Select(Entry.Parse).ToList());

    /// <summary>The entry that protects a KB path (normalized by the path guard), or null when it is not protected.</summary>
    public string? ProtectingEntry(string path)
    {
        var parts = path.Split('/').Select(Canonical).ToArray();
        return _entries.FirstOrDefault(e => e.Matches(parts))?.Text;
    }

    /// <summary>
    /// These paths and KbSync's index where the note layout has moved it in this KB: when the list protects
    /// <c>index.md</c> or <c>index/</c>, it also protects the sibling the notes write to instead (<c>index-2.md</c>
    /// when someone committed a folder <c>index.md</c>, <c>index-2/</c> when <c>index</c> is a file), found the way
    /// the note writer finds it (<see cref="NoteLayout.ResolveFolder"/>). It looks up only those names.
    /// </summary>
    /// <param name="kindAt">What is at a path of the tip (null for nothing).</param>
    public ProtectedPaths WithIndexWhereNotesWriteIt(Func<string, KbEntryKind?> kindAt)
    {
        var extra = new List<Entry>();
        if (Protects(NoteLayout.IndexPath) && IndexFileIn(kindAt) is { } index && index != NoteLayout.IndexPath)
        {
            extra.Add(Entry.Parse(index));
        }

        if (Protects(NoteLayout.IndexFolder + "/") && NoteLayout.ResolveFolder(NoteLayout.IndexFolder, kindAt) is { } folder && folder != NoteLayout.IndexFolder)
        {
            extra.Add(Entry.Parse(folder + "/"));
        }

        return extra.Count == 0 ? this : new ProtectedPaths([.. _entries, .. extra]);
    }

    /// <summary>True when the list has this entry itself (not merely one that covers it).</summary>
    private bool Protects(string entry) => _entries.Any(e => e.Readable && ProtectedPathList.Key(e.Text) == ProtectedPathList.Key(entry));

    /// <summary>Where the note writer puts <c>index.md</c>: the first of its siblings that is a file (or symlink) or nothing.</summary>
    private static string? IndexFileIn(Func<string, KbEntryKind?> kindAt)
    {
        for (var attempt = 1; attempt <= NoteLayout.MaxSiblings; attempt++)
        {
            var path = NoteLayout.Sibling(NoteLayout.IndexPath, attempt, isFile: true);
            if (kindAt(path) is null or KbEntryKind.File or KbEntryKind.Executable or KbEntryKind.Symlink)
            {
                return path;
            }
        }

        return null;
    }

    /// <summary>A path part as it is compared: git's name for it when it is one of git's dotfiles, in lower case.</summary>
    private static string Canonical(string part) => (GitDotfiles.Canonical(part) ?? part).ToLowerInvariant();

    private sealed record Entry(string Text, bool AnyFolder, string[] Parts, bool Readable)
    {
        public static Entry Parse(string text)
        {
            try
            {
                var entry = ProtectedPathList.NormalizeEntry(text);
                var anyFolder = entry.StartsWith(ProtectedPathList.AnyFolder, StringComparison.Ordinal);
                var parts = (anyFolder ? entry[ProtectedPathList.AnyFolder.Length..] : entry).TrimEnd('/').Split('/').Select(Canonical).ToArray();
                return new Entry(entry, anyFolder, parts, Readable: true);
            }
            catch (ArgumentException)
            {
                return new Entry(text, AnyFolder: false, [], Readable: false);
            }
        }

        /// <summary>The path (its canonical parts) is the entry or under it; for <c>**/NAME</c>, has NAME as any part.</summary>
        public bool Matches(string[] path)
        {
            if (!Readable)
            {
                return true;
            }

            if (AnyFolder)
            {
                return path.Contains(Parts[0], StringComparer.Ordinal);
            }

            if (path.Length < Parts.Length)
            {
                return false;
            }

            for (var i = 0; i < Parts.Length; i++)
            {
                if (!string.Equals(path[i], Parts[i], StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }
    }
}

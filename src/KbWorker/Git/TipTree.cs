using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A commit's tree for one commit's <see cref="CommitPaths"/> check and edits: each entry is looked up
/// once (in its folder, by name) and kept, so checking <c>topics/inbox/x.md</c> and then writing it
/// reads the root, <c>topics</c> and <c>topics/inbox</c> trees once each, and no blob. (LibGit2Sharp's
/// <c>tree[name]</c> loads the tree again on every call, and a category's folder may hold thousands of
/// notes: the clone's commit looked each changed path up once before this check, and still does.)
/// </summary>
internal sealed class TipTree(Tree? root) : ITipTree
{
    private readonly Dictionary<string, Tree?> _folders = new(StringComparer.Ordinal) { [""] = root };
    private readonly Dictionary<string, TreeEntry?> _entries = new(StringComparer.Ordinal);

    /// <summary>The entry at a KB-relative path, or null (also when a folder on the way is not a folder).</summary>
    public TreeEntry? EntryAt(string path)
    {
        if (!_entries.TryGetValue(path, out var entry))
        {
            var slash = path.LastIndexOf('/');
            entry = FolderAt(slash < 0 ? "" : path[..slash])?[path[(slash + 1)..]];
            _entries[path] = entry;
        }

        return entry;
    }

    public KbEntryKind? KindAt(string path) => EntryAt(path) is { } entry ? KindOf(entry.Mode) : null;

    public IEnumerable<string> EntriesUnder(string folder) => FolderAt(folder) is { } tree ? Walk(tree, folder + "/") : [];

    public static KbEntryKind KindOf(Mode mode) => mode switch
    {
        Mode.Directory => KbEntryKind.Folder,
        Mode.SymbolicLink => KbEntryKind.Symlink,
        Mode.GitLink => KbEntryKind.Submodule,
        Mode.ExecutableFile => KbEntryKind.Executable,
        _ => KbEntryKind.File,
    };

    private Tree? FolderAt(string path)
    {
        if (!_folders.TryGetValue(path, out var tree))
        {
            tree = EntryAt(path) is { TargetType: TreeEntryTargetType.Tree } entry ? (Tree)entry.Target : null;
            _folders[path] = tree;
        }

        return tree;
    }

    private static IEnumerable<string> Walk(Tree tree, string prefix)
    {
        foreach (var entry in tree)
        {
            if (entry.TargetType != TreeEntryTargetType.Tree)
            {
                yield return prefix + entry.Name;
                continue;
            }

            foreach (var path in Walk((Tree)entry.Target, prefix + entry.Name + "/"))
            {
                yield return path;
            }
        }
    }
}

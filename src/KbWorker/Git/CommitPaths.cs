namespace KbSync.KbWorker.Git;

/// <summary>
/// The tip's tree as <see cref="CommitPaths"/> reads it. Implementations look a folder up once and
/// its entries by name, so a check reads only the trees on the changed paths.
/// </summary>
public interface ITipTree
{
    /// <summary>What is at a KB-relative path of the tip: null for nothing.</summary>
    KbEntryKind? KindAt(string path);

    /// <summary>Every entry that is not a folder under a folder of the tip, lazily: the check stops at the first one a commit keeps.</summary>
    IEnumerable<string> EntriesUnder(string folder);
}

/// <summary>
/// How a checked commit is built: <see cref="RemovedFirst"/> (a file or folder that the commit turns
/// into the other kind) is removed in a first tree edit, then <see cref="Changes"/> are applied to its
/// result. libgit2's <c>git_tree_create_updated</c> compares every change with the tree it started
/// from, so it refuses to replace a folder by a file (or a file by a folder) in one edit, and removing
/// a folder while writing under it would quietly keep the folder.
/// </summary>
public sealed record CommitPlan(IReadOnlyList<string> RemovedFirst, IReadOnlyList<TreeChange> Changes);

/// <summary>
/// Checks a commit's changes against the tip's tree before libgit2 is asked: a file (or symlink,
/// submodule) where a folder is needed on the way to a written path, a folder where a file would be
/// written (unless the commit removes everything in it), and two changes of one commit that need a path
/// to be both. Each is a <see cref="PathConflict"/>. One mechanism for every writer: the clone's commit
/// runs it for notes and agents alike.
/// <para>
/// It costs only the changed paths: the folders on the way to each written path, looked up by name.
/// The one walk is of a folder a commit replaces by a file, and it stops at the first entry the commit
/// keeps, so it is as long as that commit's removals.
/// </para>
/// </summary>
public static class CommitPaths
{
    /// <param name="changes">KB-relative paths, already through the path guard.</param>
    /// <exception cref="PathConflict">The changes cannot be one commit on this tip; nothing is written.</exception>
    public static CommitPlan Check(IReadOnlyList<TreeChange> changes, ITipTree tip)
    {
        var written = new HashSet<string>(StringComparer.Ordinal);
        var removed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var change in changes)
        {
            if (written.Contains(change.Path) || removed.Contains(change.Path))
            {
                throw PathConflict.WithinCommit(change.Path, change.Path, "the path is changed twice");
            }

            (change.Content is null ? removed : written).Add(change.Path);
        }

        var removedFirst = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in changes.Where(c => c.Content is not null).Select(c => c.Path)) // in order: the same conflict is reported every time
        {
            if (CheckFolders(path, written, removed, tip, removedFirst))
            {
                CheckTarget(path, removed, tip, removedFirst);
            }
        }

        var first = removedFirst.Where(p => !UnderAny(p, removedFirst)).Order(StringComparer.Ordinal).ToList();
        var rest = changes.Where(c => c.Content is not null || !(removedFirst.Contains(c.Path) || UnderAny(c.Path, removedFirst) || UnderAny(c.Path, removed))).ToList();
        return new CommitPlan(first, rest);
    }

    /// <summary>
    /// The folders on the way to a written path: none may be written as a file by the same commit, and
    /// each must be a folder of the tip, nothing, or removed by the commit (then it goes first). True
    /// when the path's own folder is a folder of the tip that stays, so what is at the path matters.
    /// </summary>
    private static bool CheckFolders(string path, HashSet<string> written, HashSet<string> removed, ITipTree tip, HashSet<string> removedFirst)
    {
        var inTip = true;
        for (var slash = path.IndexOf('/'); slash >= 0; slash = path.IndexOf('/', slash + 1))
        {
            var folder = path[..slash];
            if (written.Contains(folder))
            {
                throw PathConflict.WithinCommit(path, folder, $"{folder} is written as a file, and {path} needs it to be a folder");
            }

            if (!inTip)
            {
                continue; // under something new or removed: only the commit's own writes can be in the way
            }

            var kind = tip.KindAt(folder);
            if (removed.Contains(folder))
            {
                if (kind is not null)
                {
                    removedFirst.Add(folder);
                }

                inTip = false;
            }
            else if (kind is null)
            {
                inTip = false;
            }
            else if (kind != KbEntryKind.Folder)
            {
                throw PathConflict.FileOnTheWay(folder, path, kind.Value);
            }
        }

        return inTip;
    }

    /// <summary>What is at a written path: a file is replaced; a folder only if the commit removes everything in it.</summary>
    private static void CheckTarget(string path, HashSet<string> removed, ITipTree tip, HashSet<string> removedFirst)
    {
        switch (tip.KindAt(path))
        {
            case KbEntryKind.Submodule:
                throw PathConflict.SubmoduleInTheWay(path);
            case KbEntryKind.Folder:
                foreach (var entry in tip.EntriesUnder(path))
                {
                    if (!removed.Contains(entry) && !UnderAny(entry, removed))
                    {
                        throw PathConflict.FolderInTheWay(path, entry);
                    }
                }

                removedFirst.Add(path);
                break;
        }
    }

    /// <summary>True when a folder on the way to <paramref name="path"/> is in <paramref name="paths"/>.</summary>
    private static bool UnderAny(string path, HashSet<string> paths)
    {
        if (paths.Count == 0)
        {
            return false;
        }

        for (var slash = path.IndexOf('/'); slash >= 0; slash = path.IndexOf('/', slash + 1))
        {
            if (paths.Contains(path[..slash]))
            {
                return true;
            }
        }

        return false;
    }
}

namespace KbSync.KbWorker.Git;

/// <summary>
/// A worker's clone of one KB (a bare repository under the data folder; nothing is checked out, so
/// the cost of a note does not grow with the number of files). Commits are built from the object
/// database on top of <see cref="Tip"/>; <see cref="PushAsync"/> is a compare-and-swap on the
/// remote branch. Not thread-safe: use it under the KB lock. Every failure is a <see cref="GitFailure"/>.
/// </summary>
public interface IKbClone : IDisposable
{
    /// <summary>The commit new changes go on top of: the remote head after <see cref="SyncAsync"/>, then each new commit. Null for an empty branch.</summary>
    string? Tip { get; }

    /// <summary>True when the KB has a remote to fetch from and push to.</summary>
    bool HasRemote { get; }

    /// <summary>
    /// Moves <see cref="Tip"/> to the remote head, dropping unpushed local commits. With
    /// <paramref name="fetch"/> false it trusts the remote head as of this clone's last fetch or push
    /// and saves the round trip (it fetches all the same if it has never fetched): the push is a
    /// compare-and-swap, so a remote that moved meanwhile refuses it and the caller syncs again, fetching.
    /// </summary>
    Task SyncAsync(bool fetch, CancellationToken cancellationToken);

    /// <summary>Finds the commit carrying <c>KbSync-Operation: id</c> in the history of <see cref="Tip"/>.</summary>
    CommitTrailers? FindOperation(Guid operationId);

    /// <summary>True when a commit in the history of <see cref="Tip"/> saved text with this hash.</summary>
    bool ContainsContent(string contentHash);

    /// <summary>The entry at a KB-relative path in <see cref="Tip"/>'s tree, or null.</summary>
    KbEntry? Entry(string path);

    /// <summary>Every file (and symlink) in <see cref="Tip"/>'s tree, optionally only under a folder. Walks the tree: for agent tasks, not notes.</summary>
    IEnumerable<KbEntry> Files(string? folder = null);

    byte[]? ReadBytes(string path);

    bool FileExists(string path);

    string? ReadText(string path);

    /// <summary>Applies <paramref name="changes"/> (KB-relative paths, already checked) as one commit on <see cref="Tip"/>; returns its sha.</summary>
    /// <param name="committer">The authenticated principal the commit is made for; null: the worker itself.</param>
    string Commit(IReadOnlyList<TreeChange> changes, CommitAuthor author, string message, CommitAuthor? committer = null);

    /// <summary>Pushes <see cref="Tip"/> to the remote branch (fast-forward only).</summary>
    Task<PushOutcome> PushAsync(CancellationToken cancellationToken);

    /// <summary>After a push that came back <see cref="PushOutcome.Locked"/>: which lock, and who holds it as far as is known.</summary>
    string? LockedBy => null;
}

public sealed record CommitAuthor(string Name, string Email, DateTimeOffset When);

/// <summary>One file in a commit: new content, or removal when <see cref="Content"/> is null.</summary>
public sealed record TreeChange(string Path, byte[]? Content)
{
    public static TreeChange Put(string path, string text) => new(path, System.Text.Encoding.UTF8.GetBytes(text));

    public static TreeChange Remove(string path) => new(path, null);
}

public enum KbEntryKind
{
    File,
    Executable,
    Symlink,
    Folder,
    Submodule,
}

/// <summary>An entry of a KB's tree: its kind, git object id and (for files) size in bytes.</summary>
public sealed record KbEntry(string Path, KbEntryKind Kind, string Sha, long Size);

public enum PushOutcome
{
    Pushed,
    /// <summary>Someone else wrote first: sync and replay.</summary>
    NonFastForward,
    /// <summary>
    /// Another writer holds the remote branch's ref lock right now (see <see cref="IKbClone.LockedBy"/>):
    /// replay as after a non-fast-forward, since it is most likely about to move the branch.
    /// </summary>
    Locked,
    /// <summary>The KB has no remote: the commit stays in the worker's clone.</summary>
    NoRemote,
}

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

    /// <summary>Fetches the remote branch and moves <see cref="Tip"/> to it, dropping unpushed local commits.</summary>
    Task SyncAsync(CancellationToken cancellationToken);

    /// <summary>Finds the commit carrying <c>KbSync-Operation: id</c> in the history of <see cref="Tip"/>.</summary>
    CommitTrailers? FindOperation(Guid operationId);

    /// <summary>True when a commit in the history of <see cref="Tip"/> saved text with this hash.</summary>
    bool ContainsContent(string contentHash);

    bool FileExists(string path);

    string? ReadText(string path);

    /// <summary>Writes <paramref name="files"/> (KB-relative paths, already checked) as one commit on <see cref="Tip"/>; returns its sha.</summary>
    string Commit(IReadOnlyDictionary<string, string> files, CommitAuthor author, string message);

    /// <summary>Pushes <see cref="Tip"/> to the remote branch (fast-forward only).</summary>
    Task<PushOutcome> PushAsync(CancellationToken cancellationToken);
}

public sealed record CommitAuthor(string Name, string Email, DateTimeOffset When);

public enum PushOutcome
{
    Pushed,
    /// <summary>Someone else wrote first: sync and replay.</summary>
    NonFastForward,
    /// <summary>The KB has no remote: the commit stays in the worker's clone.</summary>
    NoRemote,
}

using KbSync.Contracts;
using KbSync.KbWorker.Failures;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A file stands where a request needs a folder, or a folder where it needs a file (or two changes of
/// one commit need both): <c>path_conflict</c>. It is a fact about the KB and the request, so it fails
/// that request alone; before this check libgit2 refused such a tree, and the refusal was taken for a
/// damaged clone, cloned again and retried, failing every later note to the same path the same way.
/// </summary>
public sealed class PathConflict(string path, string conflictsWith, string message) : OperationFailure(ReasonCodes.PathConflict, message)
{
    /// <summary>The path the request wanted to write (or read through).</summary>
    public string Path { get; } = path;

    /// <summary>The path in the way: a file on the way to <see cref="Path"/>, a folder at it, or another change of the commit.</summary>
    public string ConflictsWith { get; } = conflictsWith;

    public static PathConflict FileOnTheWay(string file, string path, KbEntryKind kind = KbEntryKind.File) =>
        new(path, file, $"{file} is {Describe(kind)}, not a folder, so {path} cannot be under it.");

    public static PathConflict FileInTheWay(string file, string what) =>
        new(file, file, $"{file} is a file, so {what} cannot be there.");

    public static PathConflict FolderInTheWay(string folder, string heldFile) =>
        new(folder, heldFile, $"{folder} is a folder (it holds {heldFile}), so it cannot be written as a file.");

    public static PathConflict FolderInTheWay(string folder, string heldFile, string what) =>
        new(folder, heldFile, $"{folder} is a folder (it holds {heldFile}), so {what} cannot be there.");

    public static PathConflict SubmoduleInTheWay(string path) =>
        new(path, path, $"{path} is a submodule, so it cannot be written as a file.");

    public static PathConflict WithinCommit(string path, string other, string why) =>
        new(path, other, $"{other} and {path} cannot both be in one commit: {why}.");

    private static string Describe(KbEntryKind kind) => kind switch
    {
        KbEntryKind.Symlink => "a symlink",
        KbEntryKind.Submodule => "a submodule",
        _ => "a file",
    };
}

using KbSync.Contracts;
using KbSync.KbWorker.Failures;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A push to a remote on this machine's file system (a path or a <c>file://</c> URL): the pack the
/// clone just saved, which holds exactly the new objects, is copied into the remote's
/// <c>objects/pack</c> (index last), then the remote branch is moved by compare-and-swap from the
/// head the commits were built on, under git's ref lock (<see cref="RemoteRefLock"/>). A branch that
/// moved meanwhile is a non-fast-forward, a branch another writer holds locked is
/// <see cref="PushOutcome.Locked"/>: either way the group is replayed, as with a network remote.
/// <para>
/// Why not libgit2's push: it walks the whole tree of the remote head on every push, and packs the
/// objects a second time. At 10,000 files that was about 15 of a note's 30 ms. libgit2 runs no
/// hooks on a local push either, so nothing is lost. A pack copied for a push that then loses the
/// race stays in the remote unreferenced, as after any failed <c>git push</c>, until git gc.
/// </para>
/// </summary>
internal static class LocalRemotePush
{
    /// <summary>
    /// A ref lock held longer than this (by a live writer, or one nobody can vouch for) fails the push
    /// with <see cref="ReasonCodes.RemoteLocked"/> at once, rather than replaying on it for ever. A dead
    /// KbSync worker's lock never gets this old: the next push removes it.
    /// </summary>
    private static readonly TimeSpan StaleLock = TimeSpan.FromSeconds(60);

    /// <param name="self">This worker process, recorded as the lock's owner.</param>
    /// <param name="lockedBy">For <see cref="PushOutcome.Locked"/>: the lock file and who holds it, for the failure message should every replay end there.</param>
    public static PushOutcome Push(KbRemote kb, string pack, string? expectedHead, string newHead, RefLockOwner self, ILogger logger, out string? lockedBy)
    {
        lockedBy = null;
        BranchName.Check(kb); // the branch becomes a path in the remote: checked here too, where it matters most

        try
        {
            using var remote = new Repository(PathOf(kb.RemoteUrl!));
            if (Head(remote, kb.Branch) != expectedHead)
            {
                return PushOutcome.NonFastForward;
            }

            var objects = ClonePacks.Folder(remote.Info.Path);
            Copy(pack, objects);
            Copy(Path.ChangeExtension(pack, ".idx"), objects);
            CrashPoint.Reach(CrashPoint.RemotePackCopied);
            return Move(remote, kb, expectedHead, newHead, self, logger, out lockedBy);
        }
        catch (Exception error) when (error is LibGit2SharpException or IOException or UnauthorizedAccessException)
        {
            throw GitFailure.FromNetwork(error, kb.Id, kb.RemoteUrl!, "push");
        }
    }

    /// <summary>
    /// Moves the branch the way git does: holding <c>refs/heads/&lt;branch&gt;.lock</c>, it checks the
    /// branch still points at <paramref name="expectedHead"/>, then renames the lock (which holds the
    /// new head) over the ref.
    /// </summary>
    private static PushOutcome Move(Repository remote, KbRemote kb, string? expectedHead, string newHead, RefLockOwner self, ILogger logger, out string? lockedBy)
    {
        lockedBy = null;
        using var refLock = RemoteRefLock.TryTake(remote.Info.Path, kb.Branch, newHead, self, kb.Id, logger, out var busy);
        if (refLock is null)
        {
            if (busy!.Age > StaleLock)
            {
                throw new GitFailure(ReasonCodes.RemoteLocked, $"KB '{kb.Id}': the branch {kb.Branch} of {kb.RemoteUrl} has been locked for more than {StaleLock.TotalSeconds:0} s: {busy}. If that writer is gone, remove the lock file (and the record named, if any).");
            }

            lockedBy = $"the branch {kb.Branch} of {kb.RemoteUrl} is locked: {busy}";
            return PushOutcome.Locked;
        }

        CrashPoint.Reach(CrashPoint.RemoteRefLocked);
        if (Head(remote, kb.Branch) != expectedHead)
        {
            return PushOutcome.NonFastForward;
        }

        refLock.Rename();
        CrashPoint.Reach(CrashPoint.RemoteRefRenamed);
        return PushOutcome.Pushed;
    }

    private static string? Head(Repository remote, string branch) => remote.Refs["refs/heads/" + branch]?.ResolveToDirectReference()?.TargetIdentifier;

    /// <summary>Copies a file into a folder under a temporary name, then renames it, so nobody reads it half-written.</summary>
    private static void Copy(string file, string folder)
    {
        var target = Path.Combine(folder, Path.GetFileName(file));
        if (File.Exists(target))
        {
            return; // a pack's name is its checksum: the same file is there already
        }

        var temporary = Path.Combine(folder, $"tmp_kbsync_{Guid.NewGuid():N}");
        File.Copy(file, temporary);
        File.Move(temporary, target, overwrite: true);
    }

    private static string PathOf(string remote) =>
        remote.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(remote).LocalPath : remote;

    /// <summary>The remote's git directory (the path of a bare repository, or its <c>.git</c>); null when there is none yet.</summary>
    public static string? GitDirectory(string remote)
    {
        var path = PathOf(remote);
        return Directory.Exists(Path.Combine(path, "objects")) ? path
            : Directory.Exists(Path.Combine(path, ".git", "objects")) ? Path.Combine(path, ".git")
            : null;
    }
}

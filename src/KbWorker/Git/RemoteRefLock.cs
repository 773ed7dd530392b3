using System.Runtime.InteropServices;
using System.Text;

namespace KbSync.KbWorker.Git;

/// <summary>Why a ref lock could not be taken: the lock file, who holds it as far as anyone can tell, and for how long.</summary>
internal sealed record RefLockBusy(string LockFile, string Holder, TimeSpan Age)
{
    public override string ToString() => $"{LockFile} is held by {Holder} (for {Age.TotalSeconds:0.#} s)";
}

/// <summary>
/// git's lock on a branch of a repository on this machine's file system (<c>refs/heads/&lt;branch&gt;.lock</c>),
/// taken the way git takes it, so git, libgit2 and other workers keep out, and made recognisable when
/// the KbSync worker that took it dies: before the lock, the worker writes who it is
/// (<see cref="RefLockOwner"/>) and the value it will write to <see cref="Record"/>,
/// <c>&lt;gitdir&gt;/kbsync/ref-locks/&lt;branch&gt;</c>, a file git never reads (any file under
/// <c>refs/</c> would be read as a ref), and removes it after the lock is gone.
/// <para>
/// The record is created only if absent, so it is also a lock between KbSync writers. A later writer
/// that finds it checks its owner: one that is provably dead (<see cref="RefLockOwner.Check"/>) left
/// it, so the record is removed, and the ref lock too if it holds exactly the value the record names
/// (so it is the dead worker's own lock, not one taken since by someone else); the push goes on at
/// once. Anything else is respected: an owner alive or on another host, or a ref lock without a
/// record (a person's <c>git push</c>, or a KbSync version before records).
/// </para>
/// <para>
/// The lock file appears with its content already in it (written to a file beside the record, then
/// hard-linked into place, which fails if the lock exists, like git's <c>O_EXCL</c>), so a kill can
/// never leave an empty lock that nobody could attribute.
/// </para>
/// </summary>
internal sealed class RemoteRefLock : IDisposable
{
    /// <summary>A record is written in one call right after it is created; one still unreadable after this was left by a process killed in between.</summary>
    private static readonly TimeSpan UnfinishedRecord = TimeSpan.FromSeconds(5);

    private const int FileExists = 17; // EEXIST
    private const string HeadField = "head=";
    private readonly Paths _paths;
    private bool _released;
    private bool _renamed;

    private RemoteRefLock(Paths paths) => _paths = paths;

    public string LockFile => _paths.Lock;
    public string Record => _paths.Record;

    /// <summary>
    /// Takes the lock on <paramref name="branch"/> (a name already checked by git's rules) to write
    /// <paramref name="newHead"/>, clearing what a dead KbSync worker left on the way. Null, with
    /// <paramref name="busy"/> saying why, if someone else holds it.
    /// </summary>
    public static RemoteRefLock? TryTake(string gitDirectory, string branch, string newHead, RefLockOwner self, string kbId, ILogger logger, out RefLockBusy? busy)
    {
        var paths = new Paths(gitDirectory, branch);
        Directory.CreateDirectory(Path.GetDirectoryName(paths.Ref)!);
        Directory.CreateDirectory(Path.GetDirectoryName(paths.Record)!);
        busy = null;
        for (var attempt = 1; attempt <= 3; attempt++) // a dead writer's record is cleared, then the next try should take it
        {
            if (TryCreate(paths.Record, RecordOf(self, newHead)))
            {
                try
                {
                    if (LinkLock(paths, newHead))
                    {
                        return new RemoteRefLock(paths);
                    }
                }
                catch
                {
                    Delete(paths.Record); // this process is alive: a record of it left here would hold the branch until it exits
                    throw;
                }

                Delete(paths.Record);
                busy = new RefLockBusy(paths.Lock, "a writer that left no KbSync record (git itself, or a process that died)", AgeOf(paths.Lock));
                return null;
            }

            busy = Inspect(paths, kbId, logger);
            if (busy is not null)
            {
                return null;
            }
        }

        busy = new RefLockBusy(paths.Lock, "other KbSync workers racing for it", AgeOf(paths.Record));
        return null;
    }

    /// <summary>The record's text: the owner, then the value its lock holds, which tells its lock from one taken since by someone else.</summary>
    public static string RecordOf(RefLockOwner owner, string newHead) => owner.Format() + HeadField + newHead + "\n";

    /// <summary>Renames the lock over the branch: the branch now points at the new head. The record stays until <see cref="Dispose"/>.</summary>
    public void Rename()
    {
        File.Move(_paths.Lock, _paths.Ref, overwrite: true);
        _renamed = true;
    }

    /// <summary>Removes the lock if it was not renamed (it is ours: nobody else removes a live writer's lock), then the record.</summary>
    public void Dispose()
    {
        if (_released)
        {
            return;
        }

        _released = true;
        if (!_renamed)
        {
            Delete(_paths.Lock);
        }

        Delete(_paths.Record);
    }

    /// <summary>
    /// The record exists: whose is it? A dead owner's record (and its lock) is cleared and null returned,
    /// so the caller tries again; otherwise who holds the branch.
    /// <para>
    /// Each file is read again just before it is deleted, so a record or lock a live writer made since is
    /// left alone. What remains is a window of microseconds: two live KbSync workers pushing the same
    /// branch of the same remote, both clearing the same dead worker's lock, one of them between its
    /// check and its delete while the other takes the lock anew. Only two KBs registered on one remote
    /// and branch can meet there.
    /// </para>
    /// </summary>
    private static RefLockBusy? Inspect(Paths paths, string kbId, ILogger logger)
    {
        if (Read(paths.Record) is not { } text)
        {
            return null; // removed meanwhile: try again
        }

        var owner = RefLockOwner.Parse(text);
        if (owner is null)
        {
            if (AgeOf(paths.Record) < UnfinishedRecord)
            {
                return new RefLockBusy(paths.Lock, $"a KbSync worker still writing {paths.Record}", AgeOf(paths.Record));
            }

            // killed between creating the record and writing it: it never got as far as the ref lock
            DeleteIfUnchanged(paths.Record, text);
            logger.LogWarning("KB {KbId}: removed {Record}, an unfinished ref lock record left by a KbSync worker that died while writing it", kbId, paths.Record);
            return null;
        }

        var state = owner.Check();
        if (state != RefLockWriterState.Dead)
        {
            var where = state == RefLockWriterState.Alive ? "which is running" : "which runs elsewhere (another host or container), so this worker cannot tell whether it is alive";
            return new RefLockBusy(paths.Lock, $"{owner}, {where} (its record: {paths.Record})", AgeOf(File.Exists(paths.Lock) ? paths.Lock : paths.Record));
        }

        var head = text.Split('\n').FirstOrDefault(l => l.StartsWith(HeadField, StringComparison.Ordinal))?[HeadField.Length..];
        if (head is not null && Read(paths.Lock)?.Trim() == head)
        {
            Delete(paths.Lock);
            logger.LogWarning("KB {KbId}: removed the ref lock {LockFile} left by {Owner}, which is no longer running; the push goes on", kbId, paths.Lock, owner);
        }
        else
        {
            logger.LogInformation("KB {KbId}: removed the ref lock record {Record} left by {Owner}, which is no longer running (no lock of its own was left)", kbId, paths.Record, owner);
        }

        Delete(paths.Content);
        DeleteIfUnchanged(paths.Record, text);
        return null;
    }

    /// <summary>
    /// Creates the lock file with <paramref name="newHead"/> already in it: written to <see cref="Paths.Content"/>
    /// (ours while we hold the record), then hard-linked as the lock, which fails if the lock exists.
    /// False if someone holds it. Where hard links are not supported, falls back to git's way: create
    /// only if absent, then write.
    /// </summary>
    private static bool LinkLock(Paths paths, string newHead)
    {
        var content = Encoding.ASCII.GetBytes(newHead + "\n");
        Delete(paths.Content); // a dead owner's, possibly linked to its lock: never write through it
        File.WriteAllBytes(paths.Content, content);
        try
        {
            if (Link(paths.Content, paths.Lock) == 0)
            {
                return true;
            }

            return Marshal.GetLastPInvokeError() != FileExists && TryCreate(paths.Lock, newHead + "\n");
        }
        finally
        {
            Delete(paths.Content);
        }
    }

    /// <summary>Creates <paramref name="path"/> with <paramref name="text"/> only if it does not exist.</summary>
    private static bool TryCreate(string path, string text)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }

        try
        {
            using (file)
            {
                file.Write(Encoding.UTF8.GetBytes(text));
            }
        }
        catch
        {
            Delete(path); // created here, so ours: never leave it half-written
            throw;
        }

        return true;
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Deletes a dead owner's record only if it is still that record, not one a live writer created since.</summary>
    private static void DeleteIfUnchanged(string path, string text)
    {
        if (Read(path) == text)
        {
            Delete(path);
        }
    }

    private static void Delete(string path) => File.Delete(path); // no error if it is not there

    private static TimeSpan AgeOf(string path)
    {
        var written = File.GetLastWriteTimeUtc(path);
        return written.Year < 1700 ? TimeSpan.Zero : DateTime.UtcNow - written; // 1601: gone meanwhile
    }

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string created);

    /// <summary>
    /// The files of one branch's lock. The record's name is the branch with <c>%</c> and <c>/</c> escaped,
    /// flat in one folder, so branches <c>a</c> and <c>a/b</c> (git allows one of them at a time, but
    /// a remote may change) never need a file and a folder of the same name.
    /// </summary>
    private sealed class Paths(string gitDirectory, string branch)
    {
        public string Ref { get; } = Path.Combine([gitDirectory, "refs", "heads", .. branch.Split('/')]);
        public string Lock => Ref + ".lock";
        public string Record { get; } = Path.Combine(gitDirectory, "kbsync", "ref-locks", branch.Replace("%", "%25", StringComparison.Ordinal).Replace("/", "%2F", StringComparison.Ordinal));

        /// <summary>The lock's content before it is linked into place; <c>~</c> is not allowed in a branch name, so no other branch's record has this name.</summary>
        public string Content => Record + "~lock";
    }
}

using System.Diagnostics;

namespace KbSync.KbWorker.Failures;

/// <summary>
/// Named places in an operation where the crash-recovery tests kill the worker for real: when the
/// environment variable <c>KBSYNC_CRASH_AT</c> names the point, the process sends itself SIGKILL
/// there (no cleanup, exactly like a crash). Unset, as in production, it does nothing.
/// </summary>
public static class CrashPoint
{
    /// <summary>The group's blobs, trees and commits are saved in the clone (one pack); the branch does not point at them yet.</summary>
    public const string ObjectsWritten = "objects-written";

    /// <summary>The commit is on the clone's branch, not pushed.</summary>
    public const string Committed = "committed";

    /// <summary>Push to a local remote: the group's pack is in the remote's <c>objects/pack</c>; its branch is not locked yet.</summary>
    public const string RemotePackCopied = "remote-pack-copied";

    /// <summary>Push to a local remote: <c>refs/heads/&lt;branch&gt;.lock</c> is created (and who holds it recorded); the branch has not moved.</summary>
    public const string RemoteRefLocked = "remote-ref-locked";

    /// <summary>Push to a local remote: the lock is renamed over the branch (it moved), the record of who held the lock is not removed yet.</summary>
    public const string RemoteRefRenamed = "remote-ref-renamed";

    /// <summary>The push went through; history and the result event are not written yet.</summary>
    public const string Pushed = "pushed";

    private static readonly string? Armed = Environment.GetEnvironmentVariable("KBSYNC_CRASH_AT");

    public static void Reach(string point)
    {
        if (Armed == point)
        {
            Console.Error.WriteLine($"KBSYNC_CRASH_AT={point}: killing this worker now.");
            Process.GetCurrentProcess().Kill();
        }
    }
}

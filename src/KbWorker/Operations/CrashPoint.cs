using System.Diagnostics;

namespace KbSync.KbWorker.Operations;

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

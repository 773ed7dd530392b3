using System.Runtime.InteropServices;

namespace KbSync.KbWorker.Agents.Sandbox;

/// <summary>Paths on the host, compared the way bwrap will see them: every symlink on the way resolved.</summary>
public static class HostPath
{
    /// <summary><c>realpath(3)</c>: the absolute path with no symlink, <c>.</c> or <c>..</c> left; null if it does not exist.</summary>
    public static string? Real(string path)
    {
        var resolved = RealPath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> or lies under it (both real, absolute paths).</summary>
    public static bool IsWithin(string path, string folder) =>
        path == folder || folder == "/" || path.StartsWith(folder.TrimEnd('/') + "/", StringComparison.Ordinal);

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr RealPath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void Free(IntPtr pointer);
}

using System.Runtime.InteropServices;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// libgit2's process-wide settings, applied once before the first clone is opened.
/// <list type="bullet">
/// <item>Socket timeouts. libgit2 waits forever on a server that accepts a connection and never
/// answers: no progress callback fires, so cancellation cannot reach it. Its global socket timeouts
/// (<c>GIT_OPT_SET_SERVER_CONNECT_TIMEOUT</c>, <c>GIT_OPT_SET_SERVER_TIMEOUT</c>) are the only bound;
/// LibGit2Sharp does not expose them, so they are set through <c>git_libgit2_opts</c> directly,
/// in the native library LibGit2Sharp itself loaded, and read back to prove they took.</item>
/// <item>No re-checking of what git already guarantees, as the git command line does not: strict
/// object creation looks up every entry of every tree written (500 lookups to add one note to a
/// folder of 500), and strict hash verification hashes every object read again. Both cost in
/// proportion to the KB's size. Objects the worker writes come from objects it has read; what it
/// fetches is checked by the fetch (the indexer hashes every object it receives), and what it
/// pushes is checked again by the remote.</item>
/// </list>
/// </summary>
internal static class LibGit2Settings
{
    private const int SetServerConnectTimeout = 39;
    private const int GetServerConnectTimeout = 40;
    private const int SetServerTimeout = 41;
    private const int GetServerTimeout = 42;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int SetIntOption(int option, int value);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int GetIntOption(int option, out int value);

    private static readonly Lock Gate = new();

    public static void Apply(TimeSpan connect, TimeSpan io)
    {
        lock (Gate)
        {
            var set = LibGit2Native.Export<SetIntOption>("git_libgit2_opts");
            var get = LibGit2Native.Export<GetIntOption>("git_libgit2_opts");
            Set(set, get, SetServerConnectTimeout, GetServerConnectTimeout, (int)connect.TotalMilliseconds);
            Set(set, get, SetServerTimeout, GetServerTimeout, (int)io.TotalMilliseconds);
            GlobalSettings.SetEnableStrictObjectCreation(false);
            GlobalSettings.SetStrictHashVerification(false);
        }
    }

    private static void Set(SetIntOption set, GetIntOption get, int setOption, int getOption, int milliseconds)
    {
        if (set(setOption, milliseconds) != 0 || get(getOption, out var actual) != 0 || actual != milliseconds)
        {
            throw new InvalidOperationException($"libgit2 refused socket timeout option {setOption} = {milliseconds} ms; network calls could hang on a silent remote.");
        }
    }
}

using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// The few libgit2 functions LibGit2Sharp does not wrap (<see cref="LibGit2Settings"/>,
/// <see cref="TreeEdits"/>, <see cref="RawObjects"/>), called in the native library LibGit2Sharp itself
/// loaded, so both work on the same repositories and settings.
/// <para>
/// Risk: a LibGit2Sharp upgrade could rename the internals read here by reflection (the native
/// library's name, <c>Repository.Handle</c>); each lookup then fails loudly, and every commit in the
/// integration suite goes through them.
/// </para>
/// </summary>
internal static class LibGit2Native
{
    private static readonly Lazy<IntPtr> Library = new(Load);

    /// <summary>The repository's <c>git_repository*</c>: LibGit2Sharp keeps it internal (<c>Repository.Handle.AsIntPtr()</c>).</summary>
    private static readonly PropertyInfo RepositoryHandle = typeof(Repository).GetProperty("Handle", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException("LibGit2Sharp's Repository has no Handle property any more: LibGit2Native needs updating.");

    private static readonly MethodInfo AsIntPtr = RepositoryHandle.PropertyType.GetMethod("AsIntPtr", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
        ?? throw new InvalidOperationException("LibGit2Sharp's repository handle has no AsIntPtr any more: LibGit2Native needs updating.");

    private static readonly Lazy<ErrorLastFn> ErrorLast = new(() => Export<ErrorLastFn>("git_error_last"));

    /// <summary>A function of the native library as a delegate of type <typeparamref name="T"/>.</summary>
    public static T Export<T>(string name) where T : Delegate
    {
        _ = GlobalSettings.Version; // makes LibGit2Sharp load and initialise libgit2 first
        return Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(Library.Value, name));
    }

    public static IntPtr RepositoryPointer(Repository repository) => (IntPtr)AsIntPtr.Invoke(RepositoryHandle.GetValue(repository), null)!;

    /// <summary>Turns a negative libgit2 return code into an exception with libgit2's own message.</summary>
    public static void Check(int code, string function)
    {
        if (code < 0)
        {
            var error = ErrorLast.Value();
            var message = error == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(error));
            throw new LibGit2SharpException($"{function} failed ({code}): {message ?? "no message"}");
        }
    }

    public static Oid ToOid(ObjectId? id)
    {
        var oid = default(Oid);
        id?.RawId.CopyTo((Span<byte>)oid);
        return oid;
    }

    public static ObjectId ToObjectId(in Oid oid) => new(((ReadOnlySpan<byte>)oid).ToArray());

    private static IntPtr Load()
    {
        var assembly = typeof(Repository).Assembly;
        var name = assembly.GetType("LibGit2Sharp.Core.NativeDllName")?.GetField("Name", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)?.GetValue(null) as string
            ?? throw new InvalidOperationException("Cannot find the name of LibGit2Sharp's native library.");
        return NativeLibrary.Load(name, assembly, null);
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr ErrorLastFn();

    /// <summary>libgit2's <c>git_oid</c> (SHA-1 build): 20 bytes.</summary>
    [InlineArray(20)]
    public struct Oid
    {
        private byte _first;
    }
}

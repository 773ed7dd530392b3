using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A new root tree from a commit's tree plus some changed paths, by libgit2's
/// <c>git_tree_create_updated</c>: only the trees on the changed paths are rewritten, inside libgit2.
/// <para>
/// Why not LibGit2Sharp's <c>TreeDefinition</c>: it copies every entry of every tree on the path into
/// managed objects and inserts them back one call at a time: about 3 ms per note for a folder of 500
/// notes, the largest part of the commit step's growth with the KB. LibGit2Sharp does not wrap this
/// function, so it is called here like <see cref="LibGit2Settings"/> calls <c>git_libgit2_opts</c>, in the
/// native library LibGit2Sharp loaded, with the repository's native handle.
/// </para>
/// </summary>
internal static class TreeEdits
{
    private const int Upsert = 0;
    private const int Remove = 1;

    /// <summary>The repository's <c>git_repository*</c>: LibGit2Sharp keeps it internal (<c>Repository.Handle.AsIntPtr()</c>).</summary>
    private static readonly PropertyInfo RepositoryHandle = typeof(Repository).GetProperty("Handle", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException("LibGit2Sharp's Repository has no Handle property any more: TreeEdits needs updating.");

    private static readonly MethodInfo AsIntPtr = RepositoryHandle.PropertyType.GetMethod("AsIntPtr", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
        ?? throw new InvalidOperationException("LibGit2Sharp's repository handle has no AsIntPtr any more: TreeEdits needs updating.");

    private static readonly Lazy<Natives> Native = new(Natives.Load);

    /// <param name="baseline">The tree the changes apply to; null for the first commit of a KB.</param>
    /// <param name="changes">Paths with their new blob and mode, or null to remove the path (it must exist in <paramref name="baseline"/>).</param>
    public static ObjectId Apply(Repository repository, Tree? baseline, IReadOnlyList<(string Path, ObjectId? Blob, Mode Mode)> changes)
    {
        var native = Native.Value;
        var repo = RepositoryPointer(repository);
        var paths = new IntPtr[changes.Count];
        var updates = new TreeUpdate[changes.Count];
        var tree = IntPtr.Zero;
        try
        {
            for (var i = 0; i < changes.Count; i++)
            {
                paths[i] = Marshal.StringToCoTaskMemUTF8(changes[i].Path);
                updates[i] = new TreeUpdate
                {
                    Action = changes[i].Blob is null ? Remove : Upsert,
                    Id = ToOid(changes[i].Blob),
                    FileMode = (int)changes[i].Mode,
                    Path = paths[i],
                };
            }

            if (baseline is not null)
            {
                var baselineId = ToOid(baseline.Id);
                Check(native.TreeLookup(out tree, repo, in baselineId), native, "git_tree_lookup");
            }

            Check(native.CreateUpdated(out var result, repo, tree, (UIntPtr)updates.Length, updates), native, "git_tree_create_updated");
            return new ObjectId(((ReadOnlySpan<byte>)result).ToArray());
        }
        finally
        {
            if (tree != IntPtr.Zero)
            {
                native.TreeFree(tree);
            }

            foreach (var path in paths)
            {
                Marshal.FreeCoTaskMem(path);
            }
        }
    }

    private static IntPtr RepositoryPointer(Repository repository) => (IntPtr)AsIntPtr.Invoke(RepositoryHandle.GetValue(repository), null)!;

    private static Oid ToOid(ObjectId? id)
    {
        var oid = default(Oid);
        id?.RawId.CopyTo((Span<byte>)oid);
        return oid;
    }

    private static void Check(int code, Natives native, string function)
    {
        if (code < 0)
        {
            var error = native.ErrorLast();
            var message = error == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(error));
            throw new LibGit2SharpException($"{function} failed ({code}): {message ?? "no message"}");
        }
    }

    /// <summary>libgit2's <c>git_oid</c> (SHA-1 build): 20 bytes.</summary>
    [InlineArray(20)]
    private struct Oid
    {
        private byte _first;
    }

    /// <summary>libgit2's <c>git_tree_update</c>: action, oid, filemode, path (x64 and arm64 layout).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 40)]
    private struct TreeUpdate
    {
        [FieldOffset(0)] public int Action;
        [FieldOffset(4)] public Oid Id;
        [FieldOffset(24)] public int FileMode;
        [FieldOffset(32)] public IntPtr Path;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int CreateUpdatedFn(out Oid result, IntPtr repository, IntPtr baseline, UIntPtr count, [In] TreeUpdate[] updates);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int TreeLookupFn(out IntPtr tree, IntPtr repository, in Oid id);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void TreeFreeFn(IntPtr tree);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr ErrorLastFn();

    private sealed record Natives(CreateUpdatedFn CreateUpdated, TreeLookupFn TreeLookup, TreeFreeFn TreeFree, ErrorLastFn ErrorLast)
    {
        public static Natives Load()
        {
            if (IntPtr.Size != 8)
            {
                throw new PlatformNotSupportedException("TreeEdits assumes a 64-bit process (git_tree_update's layout).");
            }

            var library = LibGit2Settings.LoadLibGit2();
            T Export<T>(string name) => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(library, name));
            return new Natives(Export<CreateUpdatedFn>("git_tree_create_updated"), Export<TreeLookupFn>("git_tree_lookup"), Export<TreeFreeFn>("git_tree_free"), Export<ErrorLastFn>("git_error_last"));
        }
    }
}

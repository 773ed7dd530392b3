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
/// function, so it is called through <see cref="LibGit2Native"/>, with the repository's native handle.
/// </para>
/// </summary>
internal static class TreeEdits
{
    private const int Upsert = 0;
    private const int Remove = 1;

    private static readonly Lazy<Natives> Native = new(Natives.Load);

    /// <param name="baseline">The tree the changes apply to; null for the first commit of a KB.</param>
    /// <param name="changes">Paths with their new blob and mode, or null to remove the path (it must exist in <paramref name="baseline"/>).</param>
    public static ObjectId Apply(Repository repository, Tree? baseline, IReadOnlyList<(string Path, ObjectId? Blob, Mode Mode)> changes)
    {
        var native = Native.Value;
        var repo = LibGit2Native.RepositoryPointer(repository);
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
                    Id = LibGit2Native.ToOid(changes[i].Blob),
                    FileMode = (int)changes[i].Mode,
                    Path = paths[i],
                };
            }

            if (baseline is not null)
            {
                var baselineId = LibGit2Native.ToOid(baseline.Id);
                LibGit2Native.Check(native.TreeLookup(out tree, repo, in baselineId), "git_tree_lookup");
            }

            LibGit2Native.Check(native.CreateUpdated(out var result, repo, tree, (UIntPtr)updates.Length, updates), "git_tree_create_updated");
            return LibGit2Native.ToObjectId(result);
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

    /// <summary>libgit2's <c>git_tree_update</c>: action, oid, filemode, path (x64 and arm64 layout).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 40)]
    private struct TreeUpdate
    {
        [FieldOffset(0)] public int Action;
        [FieldOffset(4)] public LibGit2Native.Oid Id;
        [FieldOffset(24)] public int FileMode;
        [FieldOffset(32)] public IntPtr Path;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int CreateUpdatedFn(out LibGit2Native.Oid result, IntPtr repository, IntPtr baseline, UIntPtr count, [In] TreeUpdate[] updates);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int TreeLookupFn(out IntPtr tree, IntPtr repository, in LibGit2Native.Oid id);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void TreeFreeFn(IntPtr tree);

    private sealed record Natives(CreateUpdatedFn CreateUpdated, TreeLookupFn TreeLookup, TreeFreeFn TreeFree)
    {
        public static Natives Load()
        {
            if (IntPtr.Size != 8)
            {
                throw new PlatformNotSupportedException("TreeEdits assumes a 64-bit process (git_tree_update's layout).");
            }

            return new Natives(
                LibGit2Native.Export<CreateUpdatedFn>("git_tree_create_updated"),
                LibGit2Native.Export<TreeLookupFn>("git_tree_lookup"),
                LibGit2Native.Export<TreeFreeFn>("git_tree_free"));
        }
    }
}

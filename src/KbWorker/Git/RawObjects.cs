using System.Runtime.InteropServices;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>A git object as stored: its type and its content, without git's "type size\0" header.</summary>
internal readonly record struct RawObject(ObjectId Id, ObjectType Type, byte[] Data);

/// <summary>
/// Reads objects byte for byte from a repository's object database, from whichever backend holds
/// them (the unsaved objects in memory, a pack, a loose file), through libgit2's <c>git_odb_read</c>:
/// LibGit2Sharp gives a blob's content but not a tree's or a commit's exact bytes.
/// </summary>
internal static class RawObjects
{
    private static readonly Lazy<Natives> Native = new(Natives.Load);

    public static IEnumerable<RawObject> Read(Repository repository, IEnumerable<ObjectId> ids)
    {
        var native = Native.Value;
        LibGit2Native.Check(native.RepositoryOdb(out var odb, LibGit2Native.RepositoryPointer(repository)), "git_repository_odb");
        try
        {
            foreach (var id in ids)
            {
                yield return ReadOne(native, odb, id);
            }
        }
        finally
        {
            native.OdbFree(odb);
        }
    }

    private static RawObject ReadOne(Natives native, IntPtr odb, ObjectId id)
    {
        var oid = LibGit2Native.ToOid(id);
        LibGit2Native.Check(native.OdbRead(out var found, odb, in oid), $"git_odb_read of {id}");
        try
        {
            var data = new byte[(int)native.ObjectSize(found)];
            Marshal.Copy(native.ObjectData(found), data, 0, data.Length);
            return new RawObject(id, (ObjectType)native.ObjectType(found), data);
        }
        finally
        {
            native.ObjectFree(found);
        }
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int RepositoryOdbFn(out IntPtr odb, IntPtr repository);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int OdbReadFn(out IntPtr found, IntPtr odb, in LibGit2Native.Oid id);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr ObjectDataFn(IntPtr found);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate UIntPtr ObjectSizeFn(IntPtr found);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int ObjectTypeFn(IntPtr found);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void FreeFn(IntPtr pointer);

    private sealed record Natives(RepositoryOdbFn RepositoryOdb, FreeFn OdbFree, OdbReadFn OdbRead, ObjectDataFn ObjectData, ObjectSizeFn ObjectSize, ObjectTypeFn ObjectType, FreeFn ObjectFree)
    {
        public static Natives Load() => new(
            LibGit2Native.Export<RepositoryOdbFn>("git_repository_odb"),
            LibGit2Native.Export<FreeFn>("git_odb_free"),
            LibGit2Native.Export<OdbReadFn>("git_odb_read"),
            LibGit2Native.Export<ObjectDataFn>("git_odb_object_data"),
            LibGit2Native.Export<ObjectSizeFn>("git_odb_object_size"),
            LibGit2Native.Export<ObjectTypeFn>("git_odb_object_type"),
            LibGit2Native.Export<FreeFn>("git_odb_object_free"));
    }
}

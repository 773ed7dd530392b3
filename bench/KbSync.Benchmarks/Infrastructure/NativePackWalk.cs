using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>
/// The first half of a libgit2 push, timed on its own: the same calls <c>git_push_finish</c> makes
/// (push.c <c>queue_objects</c>): a revwalk from the new tip hiding the remote's head, then
/// <c>git_packbuilder_insert_walk</c> (which marks the whole tree of the remote's head as
/// uninteresting, entry by entry), then <c>git_packbuilder_write_buf</c> (deltas and deflate).
/// Calls the libgit2 LibGit2Sharp ships (the worker's), which LibGit2Sharp has already initialized.
/// </summary>
public static class NativePackWalk
{
    private const string Library = "kbsync-bench-libgit2";

    static NativePackWalk() =>
        NativeLibrary.SetDllImportResolver(typeof(NativePackWalk).Assembly, (name, _, _) => name == Library ? NativeLibrary.Load(FindLibgit2()) : IntPtr.Zero);

    public sealed record Result(double WalkMs, double PackMs, long Objects, long PackBytes);

    /// <summary>Walks and packs what a push of <paramref name="newTip"/> to a remote at <paramref name="remoteHead"/> sends.</summary>
    public static Result Measure(string repositoryPath, string newTip, string remoteHead)
    {
        Check(git_repository_open(out var repository, repositoryPath), "git_repository_open");
        var walk = IntPtr.Zero;
        var builder = IntPtr.Zero;
        var buffer = default(GitBuf);
        try
        {
            var clock = Stopwatch.StartNew();
            Check(git_revwalk_new(out walk, repository), "git_revwalk_new");
            var tip = Oid(newTip);
            var hidden = Oid(remoteHead);
            Check(git_revwalk_push(walk, ref tip), "git_revwalk_push");
            Check(git_revwalk_hide(walk, ref hidden), "git_revwalk_hide");
            Check(git_packbuilder_new(out builder, repository), "git_packbuilder_new");
            Check(git_packbuilder_insert_walk(builder, walk), "git_packbuilder_insert_walk");
            var walkMs = clock.Elapsed.TotalMilliseconds;
            var objects = (long)git_packbuilder_object_count(builder);
            clock.Restart();
            Check(git_packbuilder_write_buf(ref buffer, builder), "git_packbuilder_write_buf");
            var packMs = clock.Elapsed.TotalMilliseconds;
            return new Result(walkMs, packMs, objects, (long)buffer.Size);
        }
        finally
        {
            git_buf_dispose(ref buffer);
            if (builder != IntPtr.Zero)
            {
                git_packbuilder_free(builder);
            }

            if (walk != IntPtr.Zero)
            {
                git_revwalk_free(walk);
            }

            git_repository_free(repository);
        }
    }

    /// <summary>runtimes/&lt;os&gt;-&lt;arch&gt;/native/libgit2-*.so next to LibGit2Sharp.dll, as LibGit2Sharp loads it.</summary>
    private static string FindLibgit2()
    {
        var runtimes = Path.Combine(Path.GetDirectoryName(typeof(LibGit2Sharp.Repository).Assembly.Location)!, "runtimes");
        var os = OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsMacOS() ? "osx" : "win";
        var platform = $"{os}-{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}";
        var native = Path.Combine(runtimes, platform, "native");
        return Directory.Exists(native) && Directory.EnumerateFiles(native, "*git2*").FirstOrDefault() is { } library
            ? library
            : throw new FileNotFoundException($"No libgit2 native library in {native}.");
    }

    private static GitOid Oid(string sha)
    {
        var oid = default(GitOid);
        Convert.FromHexString(sha).CopyTo((Span<byte>)oid.Id);
        return oid;
    }

    private static void Check(int code, string call)
    {
        if (code < 0)
        {
            throw new InvalidOperationException($"{call} failed with {code}.");
        }
    }

    [InlineArray(20)]
    private struct OidBytes
    {
        private byte _first;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct GitOid
    {
        public OidBytes Id;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct GitBuf
    {
        public IntPtr Ptr;
        public UIntPtr Reserved;
        public UIntPtr Size;
    }

#pragma warning disable SYSLIB1054 // plain DllImport: the signatures are blittable and this is a diagnostic
    [DllImport(Library)] private static extern int git_repository_open(out IntPtr repository, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);
    [DllImport(Library)] private static extern void git_repository_free(IntPtr repository);
    [DllImport(Library)] private static extern int git_revwalk_new(out IntPtr walk, IntPtr repository);
    [DllImport(Library)] private static extern int git_revwalk_push(IntPtr walk, ref GitOid id);
    [DllImport(Library)] private static extern int git_revwalk_hide(IntPtr walk, ref GitOid id);
    [DllImport(Library)] private static extern void git_revwalk_free(IntPtr walk);
    [DllImport(Library)] private static extern int git_packbuilder_new(out IntPtr builder, IntPtr repository);
    [DllImport(Library)] private static extern int git_packbuilder_insert_walk(IntPtr builder, IntPtr walk);
    [DllImport(Library)] private static extern UIntPtr git_packbuilder_object_count(IntPtr builder);
    [DllImport(Library)] private static extern int git_packbuilder_write_buf(ref GitBuf buffer, IntPtr builder);
    [DllImport(Library)] private static extern void git_packbuilder_free(IntPtr builder);
    [DllImport(Library)] private static extern void git_buf_dispose(ref GitBuf buffer);
#pragma warning restore SYSLIB1054
}

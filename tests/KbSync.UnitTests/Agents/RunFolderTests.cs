using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using KbSync.KbWorker.Agents.Sandbox;

namespace KbSync.UnitTests.Agents;

/// <summary>An agent's run folder: where it is, and that removing it touches nothing outside it.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class RunFolderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("kbsync-run-folder-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void A_run_folder_is_keyed_by_kb_and_operation_id()
    {
        var id = Guid.NewGuid();

        var run = RunFolder.Create(Path.Combine(_folder, "data"), "team-notes", id);

        Assert.Equal(Path.Combine(_folder, "data", "agent-runs", "team-notes", id.ToString("N")), run.Root);
        Assert.Equal(["home", "kb", "tmp"], Directory.EnumerateDirectories(run.Root).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Removing_a_run_folder_never_follows_a_symlink_out_of_it_and_empties_folders_without_permissions()
    {
        var outside = Directory.CreateDirectory(Path.Combine(_folder, "outside")).FullName;
        File.WriteAllText(Path.Combine(outside, "keep.md"), "keep\n");
        var run = RunFolder.Create(Path.Combine(_folder, "data"), "team-notes", Guid.NewGuid());
        Directory.CreateSymbolicLink(Path.Combine(run.Kb, "link"), outside);
        File.CreateSymbolicLink(Path.Combine(run.Home, "file-link"), Path.Combine(outside, "keep.md"));
        Assert.Equal(0, MakeFifo(Path.Combine(run.Tmp, "pipe"), 0x1A4));
        var locked = Directory.CreateDirectory(Path.Combine(run.Kb, "locked", "deeper")).Parent!.FullName;
        File.WriteAllText(Path.Combine(locked, "deeper", "x.md"), "x\n");
        File.SetUnixFileMode(locked, UnixFileMode.None);

        Assert.True(run.TryDelete(out var problem), problem);

        Assert.False(Directory.Exists(run.Root));
        Assert.Equal("keep\n", File.ReadAllText(Path.Combine(outside, "keep.md")));
    }

    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MakeFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);
}

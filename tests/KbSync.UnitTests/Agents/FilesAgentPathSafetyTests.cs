using KbSync.Contracts;
using KbSync.KbWorker.Paths;
using static KbSync.UnitTests.Agents.AgentRun;

namespace KbSync.UnitTests.Agents;

public sealed class FilesAgentPathSafetyTests
{
    private const string SymlinkReason = "is a symlink or submodule in the KB; paths may not lead through one";

    private static readonly string[] HostilePaths =
    [
        "../x.md",
        "/etc/passwd",
        ".git/hooks/pre-commit",
        ".GIT/config",
        "git~1/config",
        "topics/../../x",
        "a\u0000b",
        "C:\\x",
        "link/x.md",
        "link",
        "topics/link/x.md",
        "vendor/lib/x.md",
    ];

    /// <summary>Every operation that takes a path, and which of its fields is the path ("path" or "to").</summary>
    private static readonly (string Op, string Field)[] PathSlots =
    [
        (FileOps.ReadFile, "path"),
        (FileOps.ListDirectory, "path"),
        (FileOps.SearchContent, "path"),
        (FileOps.CreateFile, "path"),
        (FileOps.EditFile, "path"),
        (FileOps.DeleteFile, "path"),
        (FileOps.MoveFile, "path"),
        (FileOps.MoveFile, "to"),
        (FileOps.CreateFolder, "path"),
        (FileOps.DeleteFolder, "path"),
        (FileOps.MoveFolder, "path"),
        (FileOps.MoveFolder, "to"),
    ];

    public static TheoryData<string, string, string> HostilePathInEverySlot()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (op, field) in PathSlots)
        {
            foreach (var path in HostilePaths)
            {
                data.Add(op, field, path);
            }
        }

        return data;
    }

    /// <summary>The sample KB, with symlinks at link and topics/link and a submodule at vendor/lib.</summary>
    private static InMemoryKbClone KbWithLinks() => SampleKb()
        .WithSymlink("link", "/etc")
        .WithSymlink("topics/link", "../..")
        .WithSubmodule("vendor/lib");

    private static FileOperation Operation(string op, string field, string path) => (op, field) switch
    {
        (FileOps.MoveFile, "to") => new FileOperation(op, Path: "README.md", To: path),
        (FileOps.MoveFolder, "to") => new FileOperation(op, Path: "notes", To: path),
        (FileOps.MoveFile, _) => new FileOperation(op, Path: path, To: "moved.md"),
        (FileOps.MoveFolder, _) => new FileOperation(op, Path: path, To: "moved"),
        (FileOps.SearchContent, _) => new FileOperation(op, Path: path, Pattern: "root"),
        (FileOps.EditFile, _) => new FileOperation(op, Path: path, Mode: "set", Content: "pwned"),
        (FileOps.CreateFile, _) => new FileOperation(op, Path: path, Content: "pwned"),
        _ => new FileOperation(op, Path: path),
    };

    /// <summary>What the path guard (or the workspace's symlink check) says about a path, without the final dot.</summary>
    private static string Reason(string path)
    {
        var error = Record.Exception(() => KbPathGuard.Normalize(path));
        return error is UnsafePathException unsafePath ? unsafePath.Message.TrimEnd('.') : SymlinkReason;
    }

    [Theory]
    [MemberData(nameof(HostilePathInEverySlot))]
    public void A_hostile_path_is_refused_by_every_operation_that_takes_a_path(string op, string field, string path)
    {
        var clone = KbWithLinks();

        var failure = Fails(clone, Operation(op, field, path));

        Assert.StartsWith($"Operation 1 ({op}) failed: ", failure.Message, StringComparison.Ordinal);
        Assert.Contains(Reason(path), failure.Message);
    }

    public static TheoryData<string, string, string> HostilePathInEveryReadingSlot()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (op, field) in PathSlots.Where(s => FileOps.Reading.Contains(s.Op)))
        {
            foreach (var path in HostilePaths)
            {
                data.Add(op, field, path);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(HostilePathInEveryReadingSlot))]
    public void A_hostile_path_is_refused_in_a_read_only_task_too(string op, string field, string path)
    {
        var failure = Fails(KbWithLinks(), readOnly: true, Operation(op, field, path));

        Assert.Contains(Reason(path), failure.Message);
    }

    [Theory]
    [InlineData("../x.md", UnsafePathReasons.Traversal)]
    [InlineData("/etc/passwd", UnsafePathReasons.Absolute)]
    [InlineData(".git/hooks/pre-commit", UnsafePathReasons.GitDir)]
    [InlineData(".GIT/config", UnsafePathReasons.GitDir)]
    [InlineData("git~1/config", UnsafePathReasons.GitDir)]
    [InlineData("topics/../../x", UnsafePathReasons.Traversal)]
    [InlineData("a\u0000b", UnsafePathReasons.ControlChar)]
    [InlineData("C:\\x", UnsafePathReasons.Absolute)]
    public void The_hostile_paths_are_the_ones_the_path_guard_refuses_for_the_expected_reason(string path, string reason)
    {
        Assert.Equal(reason, Assert.Throws<UnsafePathException>(() => KbPathGuard.Normalize(path)).Reason);
    }

    [Fact]
    public void A_hostile_path_late_in_a_task_fails_the_whole_task()
    {
        var clone = KbWithLinks();

        var failure = Fails(
            clone,
            new FileOperation(FileOps.CreateFile, Path: "ok.md", Content: "fine"),
            new FileOperation(FileOps.EditFile, Path: "README.md", Mode: "append", Content: "fine"),
            new FileOperation(FileOps.CreateFile, Path: "link/x.md", Content: "pwned"));

        Assert.Contains("Operation 3 (create_file) failed: \"link\" " + SymlinkReason, failure.Message);
        Assert.Null(clone.Entry("ok.md"));
    }

    [Fact]
    public void A_missing_path_is_refused()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.CreateFile, Content: "x"));

        Assert.Contains("Operation 1 (create_file) failed: The path is empty.", failure.Message);
    }

    [Theory]
    [InlineData("../*")]
    [InlineData("../**")]
    [InlineData("/etc/passwd")]
    [InlineData(".git/**")]
    [InlineData("**/.git/*")]
    [InlineData("link/*")]
    [InlineData("link")]
    [InlineData("vendor/**")]
    public void Search_files_patterns_only_ever_match_files_of_the_kb(string pattern)
    {
        var (result, changes) = Run(KbWithLinks(), new FileOperation(FileOps.SearchFiles, Pattern: pattern));

        Assert.Equal("", Assert.Single(result.Outputs).Output);
        Assert.Empty(changes);
    }

    [Fact]
    public void Search_content_does_not_read_through_symlinks_in_a_searched_folder()
    {
        var (result, _) = Run(KbWithLinks(), new FileOperation(FileOps.SearchContent, Pattern: "etc"));

        Assert.Equal("", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Listing_a_folder_does_not_show_its_symlinks_as_files()
    {
        var (result, _) = Run(KbWithLinks(), new FileOperation(FileOps.ListDirectory, Path: "topics"));

        Assert.DoesNotContain("link", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void A_file_whose_name_only_starts_like_a_symlink_is_fine()
    {
        var (result, _) = Run(KbWithLinks(), new FileOperation(FileOps.CreateFile, Path: "links/x.md", Content: "ok"));

        Assert.Equal(["links/x.md"], result.Created);
    }
}

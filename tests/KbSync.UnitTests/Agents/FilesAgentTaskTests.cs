using KbSync.Contracts;
using KbSync.KbWorker.Agents;
using static KbSync.UnitTests.Agents.AgentRun;

namespace KbSync.UnitTests.Agents;

public sealed class FilesAgentTaskTests
{
    [Fact]
    public void A_task_whose_third_operation_fails_commits_none_of_its_operations()
    {
        var clone = SampleKb();
        var before = clone.Snapshot();

        var failure = Fails(
            clone,
            new FileOperation(FileOps.CreateFile, Path: "new.md", Content: "n"),
            new FileOperation(FileOps.EditFile, Path: "README.md", Mode: "append", Content: "more"),
            new FileOperation(FileOps.EditFile, Path: "missing.md", Mode: "append", Content: "x"),
            new FileOperation(FileOps.DeleteFile, Path: "notes/c1.md"));

        Assert.Equal(ReasonCodes.AgentFailed, failure.ReasonCode);
        Assert.Equal("Operation 3 (edit_file) failed: there is no file missing.md. Nothing was committed.", failure.Message);
        Assert.Equal(0, clone.Commits);
        Assert.Equal(before, clone.Snapshot());
        Assert.Null(clone.Entry("new.md"));
        Assert.Equal("# KB\nWelcome to the knowledge base.\n", clone.ReadText("README.md"));
    }

    [Fact]
    public void A_failing_task_stops_at_the_failing_operation()
    {
        var clone = SampleKb();
        var workspace = new KbWorkspace(clone);

        Assert.Throws<AgentFailure>(() => FilesAgent.Run(
            workspace,
            [
                new FileOperation(FileOps.CreateFile, Path: "first.md", Content: "1"),
                new FileOperation(FileOps.CreateFile, Path: "README.md", Content: "clash"),
                new FileOperation(FileOps.CreateFile, Path: "third.md", Content: "3"),
            ],
            readOnly: false));

        // The workspace holds what ran before the failure (the caller throws it away); nothing after it ran.
        Assert.Equal(["first.md=1"], Describe(workspace.Changes()));
        Assert.Equal(0, clone.Commits);
    }

    [Fact]
    public void A_task_without_operations_changes_nothing()
    {
        var (result, changes) = Run(SampleKb());

        Assert.Empty(changes);
        Assert.Equal("Ran 0 operation(s); nothing changed.", result.Summary);
    }

    [Fact]
    public void Operation_names_are_trimmed_and_case_insensitive()
    {
        var (result, _) = Run(SampleKb(), new FileOperation(" Read_File ", Path: "notes/c1.md"));

        var output = Assert.Single(result.Outputs);
        Assert.Equal("read_file", output.Op);
        Assert.Equal("one\n", output.Output);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("write_file")]
    [InlineData("")]
    public void An_unknown_operation_fails_with_a_list_of_the_operations(string op)
    {
        var failure = Fails(
            SampleKb(),
            new FileOperation(FileOps.ReadFile, Path: "README.md"),
            new FileOperation(op, Path: "README.md"));

        Assert.Contains($"Operation 2 ({op}) failed: '{op}' is not an operation; use one of ", failure.Message);
        foreach (var name in FileOps.All)
        {
            Assert.Contains(name, failure.Message);
        }
    }

    [Fact]
    public void A_read_only_task_may_use_every_reading_operation()
    {
        var clone = SampleKb();

        var (result, changes) = Run(
            clone,
            readOnly: true,
            new FileOperation(FileOps.ReadFile, Path: "notes/c1.md"),
            new FileOperation(FileOps.ListDirectory, Path: "notes"),
            new FileOperation(FileOps.SearchFiles, Pattern: "notes/*.md"),
            new FileOperation(FileOps.SearchContent, Pattern: "twenty"));

        Assert.Equal(
            ["one\n", "c1.md\nc22.md", "notes/c1.md\nnotes/c22.md", "notes/c22.md:1: twenty-two"],
            result.Outputs.Select(o => o.Output));
        Assert.Empty(changes);
        Assert.Equal("Ran 4 operation(s); nothing changed.", result.Summary);
    }

    public static TheoryData<string> WritingOperations() => new(FileOps.All.Except(FileOps.Reading).Order());

    [Theory]
    [MemberData(nameof(WritingOperations))]
    public void A_read_only_task_cannot_write(string op)
    {
        var failure = Fails(
            SampleKb(),
            readOnly: true,
            new FileOperation(FileOps.ReadFile, Path: "README.md"),
            new FileOperation(op, Path: "topics/inbox/a.md", To: "elsewhere.md", Content: "x", Mode: "set", Find: "alpha", Replace: "x"));

        Assert.Contains($"Operation 2 ({op}) failed: a read-only task can only read (read_file, list_directory, search_files, search_content).", failure.Message);
    }

    [Fact]
    public void The_same_write_succeeds_when_the_task_is_not_read_only()
    {
        var (result, _) = Run(SampleKb(), readOnly: false, new FileOperation(FileOps.CreateFile, Path: "n.md", Content: "n"));

        Assert.Equal(["n.md"], result.Created);
    }
}

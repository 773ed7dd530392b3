using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Agents.Protection;
using KbSync.KbWorker.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KbSync.UnitTests.Agents.Protection;

/// <summary>
/// Files-agent tasks through <see cref="AgentTaskRunner"/>, as the worker runs them, with the request's right set
/// the way the pipeline will set it (<see cref="PendingOperation.MayManage"/>): protected paths need <c>manage</c>,
/// and what git fsck refuses is refused from anyone; either way nothing is committed.
/// </summary>
public sealed class ProtectedAgentTaskTests
{
    private const string BadGitmodules = "[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n";

    private readonly AgentTaskRunner _runner = new(Options.Create(new KbWorkerOptions()), NullLogger<AgentTaskRunner>.Instance);

    private static InMemoryKbClone Kb() => new InMemoryKbClone()
        .WithFile("topics/inbox/a.md", "alpha\n")
        .WithFile(".github/workflows/ci.yml", "on: push\n")
        .WithFile("index.md", "# Index\n");

    private async Task<OperationOutcome> RunAsync(InMemoryKbClone clone, bool mayManage, ProtectedPaths? paths, params FileOperation[] operations)
    {
        var request = new KbRequest(Guid.NewGuid(), "team-notes", "alice", DateTimeOffset.UnixEpoch, AgentTask: new AgentTaskContent("edit", Operations: operations));
        return (await _runner.ApplyAsync(clone, new PendingOperation(request, DateTimeOffset.UnixEpoch) { MayManage = mayManage }, paths ?? ProtectedPaths.Default, CancellationToken.None)).Outcome;
    }

    private async Task<AgentFailure> RefusedAsync(string reasonCode, InMemoryKbClone clone, bool mayManage, ProtectedPaths? paths, params FileOperation[] operations)
    {
        var before = clone.Snapshot();

        var failure = await Assert.ThrowsAsync<AgentFailure>(() => RunAsync(clone, mayManage, paths, operations));

        Assert.Equal(reasonCode, failure.ReasonCode);
        Assert.EndsWith("Nothing was committed.", failure.Message, StringComparison.Ordinal);
        Assert.Equal(0, clone.Commits);
        Assert.Equal(before, clone.Snapshot());
        return failure;
    }

    public static TheoryData<FileOperation[]> ProtectedChanges => new()
    {
        new[] { new FileOperation(FileOps.CreateFile, ".github/workflows/x.yml", Content: "on: push\n") },
        new[] { new FileOperation(FileOps.EditFile, ".github/workflows/ci.yml", Mode: FileOps.ModeSet, Content: "on: pull_request\n") },
        new[] { new FileOperation(FileOps.DeleteFile, ".github/workflows/ci.yml") },
        new[] { new FileOperation(FileOps.DeleteFolder, ".github") },
        new[] { new FileOperation(FileOps.MoveFile, ".github/workflows/ci.yml", To: "topics/ci.yml") },
        new[] { new FileOperation(FileOps.MoveFile, "topics/inbox/a.md", To: ".GitHub/workflows/a.yml") },
        new[] { new FileOperation(FileOps.CreateFolder, ".github/more") },
        new[] { new FileOperation(FileOps.CreateFile, "topics/.gitattributes", Content: "*.md filter=evil\n") },
        new[] { new FileOperation(FileOps.CreateFile, "topics/GITATT~1", Content: "*.md filter=evil\n") },
        new[] { new FileOperation(FileOps.CreateFile, ".gitmodules", Content: "[submodule \"x\"]\n\tpath = x\n\turl = https://example.com/x.git\n") },
        new[] { new FileOperation(FileOps.EditFile, "index.md", Mode: FileOps.ModeAppend, Content: "- [forged](topics/x.md)\n") },
        new[] { new FileOperation(FileOps.CreateFile, "index/2026-12.md", Content: "# forged\n") },
    };

    [Theory]
    [MemberData(nameof(ProtectedChanges))]
    public async Task Without_manage_a_task_touching_a_protected_path_fails_and_commits_nothing(FileOperation[] operations)
    {
        var failure = await RefusedAsync(ReasonCodes.ProtectedPath, Kb(), mayManage: false, paths: null, [new FileOperation(FileOps.CreateFile, "topics/fine.md", Content: "fine\n"), .. operations]);

        Assert.Contains("protected paths of KB 'team-notes'", failure.Message);
        Assert.Contains("manage right", failure.Message);
    }

    [Theory]
    [MemberData(nameof(ProtectedChanges))]
    public async Task With_manage_the_same_task_is_committed(FileOperation[] operations)
    {
        var clone = Kb();

        var outcome = await RunAsync(clone, mayManage: true, paths: null, operations);

        Assert.Equal(OperationStatus.Succeeded, outcome.Status);
        Assert.Equal(1, clone.Commits);
    }

    [Fact]
    public async Task The_refusal_names_each_path_what_protects_it_and_the_right_needed()
    {
        var failure = await RefusedAsync(ReasonCodes.ProtectedPath, Kb(), mayManage: false, paths: null,
            new FileOperation(FileOps.CreateFile, ".github/workflows/x.yml", Content: "on: push\n"),
            new FileOperation(FileOps.CreateFile, "topics/.gitattributes", Content: "* text\n"));

        Assert.Equal(
            "The agent's changes were refused: they create, change or delete protected paths of KB 'team-notes': "
            + ".github/workflows/x.yml (protected by \".github/\"), topics/.gitattributes (protected by \"**/.gitattributes\"). "
            + "Only a principal with the manage right on the KB may change those (or its list of protected paths: kbsync kb protect). Nothing was committed.",
            failure.Message);
    }

    [Fact]
    public async Task A_task_that_stays_out_of_protected_paths_is_committed_without_manage()
    {
        var clone = Kb();

        var outcome = await RunAsync(clone, mayManage: false, paths: null,
            new FileOperation(FileOps.CreateFolder, "topics/new"),
            new FileOperation(FileOps.CreateFile, "topics/.github/notes-about-ci.md", Content: "ci\n"),
            new FileOperation(FileOps.ReadFile, ".github/workflows/ci.yml"));

        Assert.Equal(OperationStatus.Succeeded, outcome.Status);
        Assert.Equal("ci\n", clone.ReadText("topics/.github/notes-about-ci.md"));
        Assert.Equal("on: push\n", Assert.Single(outcome.Agent!.Outputs).Output);
    }

    [Fact]
    public async Task Even_with_manage_a_gitmodules_git_fsck_refuses_is_refused()
    {
        var failure = await RefusedAsync(ReasonCodes.AgentRefused, Kb(), mayManage: true, paths: null, new FileOperation(FileOps.CreateFile, ".gitmodules", Content: BadGitmodules));

        Assert.Equal(
            "The agent's changes were refused: .gitmodules is a file git fsck refuses (gitmodulesUrl: disallowed submodule url: --upload-pack=touch /tmp/pwned (line 3)); "
            + "remotes that check what they receive would refuse the KB's pushes. Nothing was committed.",
            failure.Message);
    }

    [Fact]
    public async Task A_gitmodules_under_another_name_git_reads_is_checked_too_even_where_nothing_protects_it()
    {
        await RefusedAsync(ReasonCodes.AgentRefused, Kb(), mayManage: false, ProtectedPaths.Of([]), new FileOperation(FileOps.CreateFile, "topics/GITMOD~1", Content: BadGitmodules));
    }

    [Fact]
    public async Task A_kbs_own_list_protects_what_it_lists_and_nothing_else()
    {
        var paths = ProtectedPaths.Of(["topics/policies/"]);

        await RefusedAsync(ReasonCodes.ProtectedPath, Kb(), mayManage: false, paths, new FileOperation(FileOps.CreateFile, "topics/Policies/x.md", Content: "x\n"));
        var clone = Kb();
        var outcome = await RunAsync(clone, mayManage: false, paths, new FileOperation(FileOps.CreateFile, ".github/workflows/x.yml", Content: "on: push\n"));
        Assert.Equal(OperationStatus.Succeeded, outcome.Status);
    }

    [Fact]
    public async Task The_index_where_notes_have_moved_it_is_protected()
    {
        var clone = new InMemoryKbClone().WithFile("index", "someone's file\n").WithFile("index-2/2026-12.md", "# Notes of 2026-12\n");

        await RefusedAsync(ReasonCodes.ProtectedPath, clone, mayManage: false, paths: null, new FileOperation(FileOps.EditFile, "index-2/2026-12.md", Mode: FileOps.ModeSet, Content: "forged\n"));
    }

    [Fact]
    public async Task A_read_only_task_is_never_refused_for_reading_protected_paths()
    {
        var request = new KbRequest(Guid.NewGuid(), "team-notes", "alice", DateTimeOffset.UnixEpoch,
            AgentTask: new AgentTaskContent("read", Operations: [new FileOperation(FileOps.ReadFile, ".github/workflows/ci.yml")], ReadOnly: true));

        var outcome = (await _runner.ApplyAsync(Kb(), new PendingOperation(request, DateTimeOffset.UnixEpoch), ProtectedPaths.Default, CancellationToken.None)).Outcome;

        Assert.Equal(OperationStatus.Succeeded, outcome.Status);
    }
}

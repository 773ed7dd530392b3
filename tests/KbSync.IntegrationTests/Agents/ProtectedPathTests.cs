using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;
using KbSync.Persistence.Identity;
using KbSync.Persistence.KnowledgeBases;

namespace KbSync.IntegrationTests.Agents;

/// <summary>
/// Protected paths with a real worker, real git remotes and a real sandboxed external agent: agent tasks that touch
/// <c>.gitmodules</c>, <c>.github/</c> or <c>.gitattributes</c> without the manage right fail with nothing committed;
/// a <c>.gitmodules</c> git fsck refuses is refused even where nothing protects it, and the remote keeps passing
/// <c>git fsck --strict</c>; notes keep writing KbSync's index; a KB's own list, set with <c>kbsync kb protect</c>,
/// protects what it lists.
/// <para>
/// The requests are made on behalf of <see cref="Writer"/>, a member with <c>write</c> and <c>agent</c> but no
/// <c>manage</c> on the KBs. The allowed case (a principal with manage) is <c>ProtectedAgentTaskTests</c> (unit) until
/// the worker decides each request's principal and sets <c>PendingOperation.MayManage</c> from its rights.
/// </para>
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class ProtectedPathTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Kb = "guarded-kb";
    private const string OpenKb = "open-kb";
    private const string Writer = "mallory";

    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private GitRemote _openRemote = null!;
    private ProducerHost _producer = null!;
    private string _seedTip = null!;
    private string _pwned = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _pwned = _sandbox.Folder.Combine("pwned");
        _remote = _sandbox.CreateRemote(Kb);
        _openRemote = _sandbox.CreateRemote(OpenKb);
        _seedTip = await SeedAsync(_remote);
        await SeedAsync(_openRemote);
        await _sandbox.RegisterKbAsync(Kb, _remote.Path);
        await _sandbox.RegisterKbAsync(OpenKb, _openRemote.Path);
        await new KbRegistry(_sandbox.Database.Factory()).SetProtectedPathsAsync(OpenKb, _ => []);

        var identities = new IdentityStore(_sandbox.Database.Factory());
        await identities.AddPrincipalAsync(Writer, "mallory@tests.kbsync.invalid", Roles.Member);
        foreach (var kb in new[] { Kb, OpenKb })
        {
            await identities.GrantAsync(kb, Writer, KbRights.Write);
            await identities.GrantAsync(kb, Writer, KbRights.Agent);
        }

        var agents = _sandbox.Folder.Combine("agents"); // beside the worker's data folder, which the sandbox hides
        Directory.CreateDirectory(agents);
        var script = Path.Combine(agents, "attributes.sh");
        await File.WriteAllTextAsync(script, "set -e\nprintf '*.md filter=lfs diff=lfs merge=lfs\\n' > .gitattributes\nprintf 'note\\n' > topics/agent-note.md\n");
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string>
        {
            ["KbWorker__Agents__attributes__Command"] = "/bin/sh",
            ["KbWorker__Agents__attributes__Arguments__0"] = script,
            ["KbWorker__Agents__attributes__ReadOnlyPaths__0"] = agents,
        });
        _producer = await _sandbox.StartProducerAsync();
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    private string UploadPackGitmodules => $"[submodule \"lib\"]\n\tpath = lib\n\turl = --upload-pack=touch {_pwned}\n";

    private async Task<OperationRecord> FilesAsync(string kb, params FileOperation[] operations) =>
        await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitAgentTaskAsync(kb, Writer, new AgentTaskContent("protected paths", Operations: operations), onBehalfOf: Writer));

    [Fact]
    public async Task A_principal_with_manage_may_change_a_protected_path_but_never_write_a_gitmodules_git_fsck_refuses()
    {
        // the tests' producer is an administrator: manage on every KB
        var allowed = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitAgentTaskAsync(Kb, "admin",
            new AgentTaskContent("add a workflow", Operations: [new FileOperation(FileOps.CreateFile, ".github/workflows/x.yml", Content: "on: push\n")])));
        Assert.True(allowed.Status == OperationStatus.Succeeded, $"{allowed.ErrorCode}: {allowed.ErrorMessage}");
        Assert.Equal(KbSyncSandbox.TestPrincipal, allowed.Principal);

        var refused = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitAgentTaskAsync(Kb, "admin",
            new AgentTaskContent("add a submodule", Operations: [new FileOperation(FileOps.CreateFile, ".gitmodules", Content: UploadPackGitmodules)])));
        Assert.Equal(ReasonCodes.AgentRefused, refused.ErrorCode);
        Assert.DoesNotContain(".gitmodules", _remote.Files());
    }

    [Fact]
    public async Task A_files_task_writing_a_gitmodules_that_runs_a_command_fails_without_manage_and_the_remote_passes_git_fsck_strict()
    {
        var row = await FilesAsync(Kb,
            new FileOperation(FileOps.CreateFile, "topics/fine.md", Content: "fine\n"),
            new FileOperation(FileOps.CreateFile, ".gitmodules", Content: UploadPackGitmodules));

        Assert.Equal(OperationStatus.Failed, row.Status);
        Assert.Equal(ReasonCodes.ProtectedPath, row.ErrorCode);
        Assert.Contains(".gitmodules (protected by \"**/.gitmodules\")", row.ErrorMessage);
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
        await AssertPassesFsckStrictAsync(_remote);
    }

    [Fact]
    public async Task Where_nothing_protects_it_a_gitmodules_git_fsck_refuses_is_still_refused_and_the_remote_passes_git_fsck_strict()
    {
        var tip = _openRemote.Commits()[^1].Sha;

        var row = await FilesAsync(OpenKb, new FileOperation(FileOps.CreateFile, ".gitmodules", Content: UploadPackGitmodules));

        Assert.Equal(ReasonCodes.AgentRefused, row.ErrorCode);
        Assert.Contains($"gitmodulesUrl: disallowed submodule url: --upload-pack=touch {_pwned}", row.ErrorMessage);
        Assert.Equal(tip, _openRemote.Commits()[^1].Sha);
        await AssertPassesFsckStrictAsync(_openRemote);
    }

    [Fact]
    public async Task A_task_creating_a_github_workflow_without_manage_fails_naming_the_path_and_the_right()
    {
        var row = await FilesAsync(Kb, new FileOperation(FileOps.CreateFile, ".github/workflows/x.yml", Content: "on: push\njobs: {}\n"));

        Assert.Equal(ReasonCodes.ProtectedPath, row.ErrorCode);
        Assert.Contains($"protected paths of KB '{Kb}': .github/workflows/x.yml (protected by \".github/\")", row.ErrorMessage);
        Assert.Contains("manage right", row.ErrorMessage);
        Assert.Contains("Nothing was committed.", row.ErrorMessage);
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
    }

    [Fact]
    public async Task An_external_agent_writing_a_gitattributes_fails_the_same_way()
    {
        var row = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitAgentTaskAsync(Kb, Writer, new AgentTaskContent("track markdown in LFS", "attributes"), onBehalfOf: Writer), TimeSpan.FromSeconds(90));

        Assert.Equal(ReasonCodes.ProtectedPath, row.ErrorCode);
        Assert.Contains(".gitattributes (protected by \"**/.gitattributes\")", row.ErrorMessage);
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
        Assert.Null(_remote.ReadFile("topics/agent-note.md"));
    }

    [Fact]
    public async Task A_note_still_writes_kbsyncs_index_files()
    {
        var row = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync(Kb, Writer, new NoteContent("Protected paths leave notes alone.")));

        Assert.True(row.Status == OperationStatus.Succeeded, $"{row.ErrorCode}: {row.ErrorMessage}");
        var month = $"index/{row.RequestedAt.UtcDateTime:yyyy-MM}.md";
        Assert.Contains($"](../{row.NotePath})", _remote.ReadFile(month));
        Assert.Contains($"]({month})", _remote.ReadFile("index.md"));
        Assert.StartsWith("# Index\n", _remote.ReadFile("index.md"));
    }

    [Fact]
    public async Task A_kb_with_its_own_list_set_with_the_cli_protects_what_it_lists_and_not_what_it_removed()
    {
        var set = await Kbsync("kb", "protect", Kb, "--add", "topics/policies/", "--add", "**/secrets.md", "--remove", ".github/");
        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.EndsWith("index.md, index/, topics/policies/, **/secrets.md\n", set.Output);
        Assert.DoesNotContain(".github/", set.Output);
        var listed = await Kbsync("kb", "list");
        Assert.Contains("topics/policies/", listed.Output);
        Assert.Contains(listed.Output.Split('\n'), line => line.Contains(OpenKb, StringComparison.Ordinal) && line.Contains("(none)", StringComparison.Ordinal));

        var policy = await FilesAsync(Kb, new FileOperation(FileOps.CreateFile, "topics/Policies/retention.md", Content: "keep\n"));
        var secret = await FilesAsync(Kb, new FileOperation(FileOps.CreateFile, "topics/inbox/secrets.md", Content: "x\n"));
        var workflow = await FilesAsync(Kb, new FileOperation(FileOps.CreateFile, ".github/workflows/x.yml", Content: "on: push\n"));

        Assert.Equal(ReasonCodes.ProtectedPath, policy.ErrorCode);
        Assert.Contains("topics/Policies/retention.md (protected by \"topics/policies/\")", policy.ErrorMessage);
        Assert.Contains("topics/inbox/secrets.md (protected by \"**/secrets.md\")", secret.ErrorMessage);
        Assert.True(workflow.Status == OperationStatus.Succeeded, $"{workflow.ErrorCode}: {workflow.ErrorMessage}");
        Assert.Equal("on: push\n", _remote.ReadFile(".github/workflows/x.yml"));
        Assert.Null(_remote.ReadFile("topics/Policies/retention.md"));
    }

    [Fact]
    public async Task The_cli_refuses_to_remove_what_is_not_protected_and_changes_nothing()
    {
        var refused = await Kbsync("kb", "protect", Kb, "--remove", ".gitmodule");
        var unknown = await Kbsync("kb", "protect", "no-such-kb", "--add", "docs/");
        var shown = await Kbsync("kb", "protect", Kb);

        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("'.gitmodule' is not in the KB's protected paths", refused.Error + refused.Output);
        Assert.Equal(3, unknown.ExitCode);
        Assert.Contains("the defaults: **/.gitmodules", shown.Output);
    }

    private Task<CliResult> Kbsync(params string[] args) => CliRunner.RunAsync(_sandbox.Environment(), args);

    private static async Task AssertPassesFsckStrictAsync(GitRemote remote)
    {
        var (code, output) = await GitCli.RunAsync(null, "--git-dir=" + remote.Path, "fsck", "--strict", "--no-dangling");
        Assert.True(code == 0, $"git fsck --strict failed on the remote:\n{output}");
    }

    /// <summary>A first commit on the remote, as a person would push it: a note and an index.</summary>
    private async Task<string> SeedAsync(GitRemote remote)
    {
        var work = _sandbox.Folder.Combine("seed-" + Path.GetFileName(remote.Path));
        Directory.CreateDirectory(Path.Combine(work, "topics", "inbox"));
        await GitCli.OutputAsync(work, "init", "-q", "-b", "main");
        await File.WriteAllTextAsync(Path.Combine(work, "topics", "inbox", "existing.md"), "existing\n");
        await File.WriteAllTextAsync(Path.Combine(work, "index.md"), "# Index\n");
        await GitCli.OutputAsync(work, "add", "-A");
        await GitCli.OutputAsync(work, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-q", "-m", "seed");
        await GitCli.OutputAsync(work, "push", "-q", remote.Path, "main");
        return remote.Commits()[^1].Sha;
    }
}

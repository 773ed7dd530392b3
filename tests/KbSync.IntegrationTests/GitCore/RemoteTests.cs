using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>The kinds of remotes and branches a KB can have, and refusals that are not races.</summary>
[Collection(ServicesCollection.Name)]
public sealed class RemoteTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitHttpServer _server = null!;
    private ProducerHost _producer = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _server = new GitHttpServer(_sandbox.Folder.Combine("http"));
        await _sandbox.StartWorkerAsync("w1");
        _producer = await _sandbox.StartProducerAsync();
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        await _server.DisposeAsync();
    }

    private async Task<Persistence.Entities.OperationRecord> NoteAsync(string kb, string text) =>
        await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync(kb, "alice", new NoteContent(text)));

    [Fact]
    public async Task A_file_url_remote_works_like_a_path()
    {
        var remote = _sandbox.CreateRemote("file-kb");
        await _sandbox.RegisterKbAsync("file-kb", new Uri(remote.Path).AbsoluteUri);

        var row = await NoteAsync("file-kb", "Through a file:// URL.");

        Assert.Equal(OperationStatus.Succeeded, row.Status);
        Assert.Equal(row.CommitSha, Assert.Single(remote.Commits()).Sha);
        Assert.True(row.Pushed);
    }

    /// <summary>
    /// A note group is built on the remote head as the clone last saw it, without fetching first; the
    /// push is a compare-and-swap, so when someone else wrote meanwhile it is refused, and the group is
    /// replayed on the new head after a fetch.
    /// </summary>
    [Fact]
    public async Task A_note_after_the_workers_own_push_does_not_fetch_and_one_after_a_foreign_push_is_replayed_on_top_of_it()
    {
        var remote = _server.CreateRepository("trusting-kb");
        await _sandbox.RegisterKbAsync("trusting-kb", remote.Url);
        Assert.Equal(OperationStatus.Succeeded, (await NoteAsync("trusting-kb", "First: the clone is made.")).Status);

        _server.ClearLog();
        var second = await NoteAsync("trusting-kb", "Second: this worker pushed last, so no fetch.");
        Assert.Equal(OperationStatus.Succeeded, second.Status);
        Assert.DoesNotContain(_server.RequestLog, r => r.Contains("upload-pack", StringComparison.Ordinal));
        Assert.Equal(1, _server.ReceivePackCount);

        await new ForeignWriter(remote.Path, _sandbox.Folder.Combine("person")).WriteAsync(1, TimeSpan.Zero);
        _server.ClearLog();
        var third = await NoteAsync("trusting-kb", "Third: someone else wrote first.");

        Assert.Equal(OperationStatus.Succeeded, third.Status);
        // refused at the advertisement (the remote head is not in the clone: not a fast-forward), then replayed
        Assert.Equal(2, _server.RequestLog.Count(r => r.Contains("service=git-receive-pack", StringComparison.Ordinal)));
        Assert.Equal(1, _server.ReceivePackCount);
        Assert.Contains(_server.RequestLog, r => r.Contains("upload-pack", StringComparison.Ordinal));
        var commits = new GitRemote(remote.Path, "main").Commits();
        Assert.Equal([second.CommitSha, null, third.CommitSha], commits.TakeLast(3).Select(c => c.Trailers is null ? null : c.Sha));
        Assert.Equal("Foreign commit 0", commits[^2].Subject);
    }

    [Fact]
    public async Task A_branch_missing_on_the_remote_is_created_by_the_first_push_and_others_are_left_alone()
    {
        var remote = _server.CreateRepository("branchy-kb");
        await new ForeignWriter(remote.Path, _sandbox.Folder.Combine("person")).WriteAsync(1, TimeSpan.Zero);
        await _sandbox.RegisterKbAsync("branchy-kb", remote.Url, branch: "kb/notes");

        var row = await NoteAsync("branchy-kb", "On a branch of its own.");

        Assert.Equal(OperationStatus.Succeeded, row.Status);
        var notes = new GitRemote(remote.Path, "kb/notes").Commits();
        Assert.Equal(row.CommitSha, Assert.Single(notes).Sha);
        Assert.Equal("Foreign commit 0", Assert.Single(new GitRemote(remote.Path, "main").Commits()).Subject);
    }

    [Fact]
    public async Task A_kb_without_a_remote_commits_locally_and_history_says_it_was_not_pushed()
    {
        await _sandbox.RegisterKbAsync("local-kb", remote: null);

        var row = await NoteAsync("local-kb", "Stays on this worker.");

        Assert.Equal(OperationStatus.Succeeded, row.Status);
        Assert.False(row.Pushed);
        var status = await CliRunner.RunAsync(_sandbox.Environment(), "status", row.Id.ToString());
        Assert.Contains("no: the KB has no remote", status.Output);
    }

    [Fact]
    public async Task A_push_refused_by_a_server_hook_is_a_clear_failure_without_replays()
    {
        var remote = _server.CreateRepository("hooked-kb");
        _server.InstallPreReceiveHook("hooked-kb", "echo 'protected branch'; exit 1");
        await _sandbox.RegisterKbAsync("hooked-kb", remote.Url);

        var row = await NoteAsync("hooked-kb", "Refused by policy.");

        Assert.Equal(OperationStatus.Failed, row.Status);
        Assert.Equal(ReasonCodes.PushRejected, row.ErrorCode);
        Assert.Contains("pre-receive hook declined", row.ErrorMessage);
        Assert.DoesNotContain("replaying", _sandbox.WorkerOutput());
        Assert.Single(_server.RequestLog, line => line.StartsWith("POST", StringComparison.Ordinal) && line.Contains("git-receive-pack"));
        Assert.Empty(remote.Open().Commits());
    }

    [Fact]
    public async Task A_damaged_clone_is_thrown_away_and_made_again()
    {
        var remote = _sandbox.CreateRemote("fragile-kb");
        await _sandbox.RegisterKbAsync("fragile-kb", remote.Path);
        Assert.Equal(OperationStatus.Succeeded, (await NoteAsync("fragile-kb", "Before the damage.")).Status);
        var objects = _sandbox.Folder.Combine("workers", "w1", "kbs", "fragile-kb.git", "objects");
        foreach (var folder in Directory.EnumerateDirectories(objects).Where(d => Path.GetFileName(d) is not ("info" or "pack")))
        {
            Directory.Delete(folder, recursive: true);
        }

        foreach (var pack in Directory.EnumerateFiles(Path.Combine(objects, "pack")))
        {
            File.SetAttributes(pack, FileAttributes.Normal);
            File.Delete(pack);
        }

        var row = await NoteAsync("fragile-kb", "After the damage.");

        Assert.True(row.Status == OperationStatus.Succeeded, $"{row.ErrorCode}: {row.ErrorMessage}\n{_sandbox.WorkerOutput()}");
        Assert.Equal(2, remote.Commits().Count);
        Assert.Contains("discarding the damaged clone", _sandbox.WorkerOutput());
    }
}

using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.KnowledgeBases;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// A file where KbSync needs a folder (or a folder where it needs a file) is a fact about the KB, not
/// a damaged clone: a note goes to the next free sibling name, a files task that asks for the
/// impossible fails alone with <c>path_conflict</c>, and nothing is cloned again or retried.
/// Requesters whose names are no git signature as they stand get a valid author all the same.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class PathConflictTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string DamagedClone = "discarding the damaged clone";
    private KbSyncSandbox _sandbox = null!;
    private WorkerProcess _worker = null!;
    private ProducerHost _producer = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _worker = await _sandbox.StartWorkerAsync("w1");
        _producer = await _sandbox.StartProducerAsync();
    }

    public async Task DisposeAsync()
    {
        await _producer.DisposeAsync();
        await _sandbox.DisposeAsync();
    }

    [Fact]
    public async Task Notes_land_in_the_next_free_sibling_folder_after_a_foreign_writer_committed_topics_inbox_as_a_file()
    {
        var remote = await RegisterAsync("inbox-kb");
        var first = await NoteAsync("inbox-kb", "Before the foreign commit.");
        Assert.StartsWith("topics/inbox/", first.NotePath, StringComparison.Ordinal);
        await CommitAsForeignWriterAsync(remote, work =>
        {
            Directory.Delete(Path.Combine(work, "topics", "inbox"), recursive: true);
            File.WriteAllText(Path.Combine(work, "topics", "inbox"), "The inbox is a file now.\n");
        });

        var second = await NoteAsync("inbox-kb", "After the foreign commit.");
        var third = await NoteAsync("inbox-kb", "And one more.");

        Assert.StartsWith("topics/inbox-2/", second.NotePath, StringComparison.Ordinal);
        Assert.StartsWith("topics/inbox-2/", third.NotePath, StringComparison.Ordinal);
        Assert.Equal("The inbox is a file now.\n", remote.ReadFile("topics/inbox"));
        Assert.Contains("After the foreign commit.", remote.ReadFile(second.NotePath!));
        Assert.Contains("And one more.", remote.ReadFile(third.NotePath!));
        var month = remote.ReadFile($"index/{DateTime.UtcNow:yyyy-MM}.md")!;
        Assert.Contains($"](../{second.NotePath})", month);
        Assert.Contains($"](../{third.NotePath})", month);
        Assert.DoesNotContain(DamagedClone, _worker.Output);
        await GitCli.AssertCompleteAsync(remote.Path);
    }

    [Fact]
    public async Task A_files_task_writing_under_a_file_fails_with_path_conflict_without_a_new_clone_and_the_partition_goes_on()
    {
        var (kb, neighbour) = TwoKbsOfOnePartition();
        var remote = await RegisterAsync(kb);
        var neighbourRemote = await RegisterAsync(neighbour);
        await CommitAsForeignWriterAsync(remote, work =>
        {
            Directory.CreateDirectory(Path.Combine(work, "index"));
            File.WriteAllText(Path.Combine(work, "index", "2026-12.md"), "# Notes of 2026-12\n");
        });
        var before = remote.Commits();

        var task = await _producer.Client.SubmitAgentTaskAsync(kb, "alice", new AgentTaskContent("write under a file", Operations:
        [
            new FileOperation(FileOps.CreateFile, "topics/fine.md", Content: "fine\n"),
            new FileOperation(FileOps.CreateFile, "index/2026-12.md/x", Content: "x\n"),
        ]));
        var note = await _producer.Client.SubmitNoteAsync(neighbour, "bob", new NoteContent("Right behind the conflicting task."));
        var published = DateTimeOffset.UtcNow;

        var failed = await _sandbox.WaitForOperationAsync(task);
        var landed = await _sandbox.WaitForOperationAsync(note, TimeSpan.FromSeconds(30));

        Assert.Equal(OperationStatus.Failed, failed.Status);
        Assert.Equal(ReasonCodes.PathConflict, failed.ErrorCode);
        Assert.Contains("Operation 2 (create_file)", failed.ErrorMessage);
        Assert.Contains("index/2026-12.md/x", failed.ErrorMessage);
        Assert.Contains("index/2026-12.md is a file", failed.ErrorMessage);
        Assert.Contains("Nothing was committed.", failed.ErrorMessage);
        Assert.Equal(before, remote.Commits());
        Assert.Equal(OperationStatus.Succeeded, landed.Status);
        Assert.True(landed.FinishedAt - published < TimeSpan.FromSeconds(15), $"the neighbour's note took {landed.FinishedAt - published}");
        Assert.Single(neighbourRemote.Commits());
        Assert.DoesNotContain(DamagedClone, _worker.Output);
    }

    [Fact]
    public async Task A_files_task_may_put_a_file_where_it_moved_a_folder_away_and_later_notes_index_beside_it()
    {
        var remote = await RegisterAsync("moves-kb");
        // the task moves KbSync's index, a protected path: this KB's own list leaves it to agents
        await new KbRegistry(_sandbox.Database.Factory()).SetProtectedPathsAsync("moves-kb", _ => []);
        var first = await NoteAsync("moves-kb", "Indexed in the index folder.");
        var month = $"{DateTime.UtcNow:yyyy-MM}";

        var task = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitAgentTaskAsync("moves-kb", "alice", new AgentTaskContent("index as a file", Operations:
        [
            new FileOperation(FileOps.MoveFolder, "index", To: "archive/index"),
            new FileOperation(FileOps.CreateFile, "index", Content: "The index is a file now.\n"),
        ])));
        var second = await NoteAsync("moves-kb", "Indexed beside the index file.");

        Assert.True(task.Status == OperationStatus.Succeeded, $"{task.ErrorCode}: {task.ErrorMessage}");
        Assert.Equal("The index is a file now.\n", remote.ReadFile("index"));
        Assert.Contains($"](../{first.NotePath})", remote.ReadFile($"archive/index/{month}.md"));
        Assert.Contains($"](../{second.NotePath})", remote.ReadFile($"index-2/{month}.md"));
        Assert.Contains($"- [{month}](index-2/{month}.md)", remote.ReadFile("index.md"));
        Assert.DoesNotContain(DamagedClone, _worker.Output);
        await GitCli.AssertCompleteAsync(remote.Path);
    }

    [Theory]
    [InlineData("O'Brien <ob@x>", "O'Brien", "ob@x")]
    [InlineData("'", "(')", "u-")]
    [InlineData("<<>>", "(())", "u-")]
    [InlineData(" . Dot. ", "Dot", "dot@")]
    public async Task A_note_from_a_requester_whose_name_is_no_git_signature_lands_with_a_valid_author(string requestedBy, string name, string emailStart)
    {
        var remote = await RegisterAsync("authors-kb");

        var row = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync("authors-kb", requestedBy, new NoteContent($"From {requestedBy}.")));

        Assert.True(row.Status == OperationStatus.Succeeded, $"{row.ErrorCode}: {row.ErrorMessage}");
        var commit = Assert.Single(remote.Commits());
        Assert.Equal(name, commit.AuthorName);
        Assert.StartsWith(emailStart, commit.AuthorEmail, StringComparison.Ordinal);
        Assert.Equal(requestedBy, row.RequestedBy);
        Assert.Contains($"\nauthor: \"{requestedBy}\"\n", remote.ReadFile(row.NotePath!)); // the front matter keeps who asked, as they wrote it
        Assert.DoesNotContain(DamagedClone, _worker.Output);
        await GitCli.AssertCompleteAsync(remote.Path); // git fsck checks every author line
    }

    private async Task<GitRemote> RegisterAsync(string kbId) => (await _sandbox.RegisterKbsWithRemotesAsync([kbId]))[kbId];

    private async Task<(string? NotePath, string CommitSha)> NoteAsync(string kbId, string text)
    {
        var row = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync(kbId, "alice", new NoteContent(text)));
        Assert.True(row.Status == OperationStatus.Succeeded, $"{row.ErrorCode}: {row.ErrorMessage}\n{_sandbox.WorkerOutput()}");
        return (row.NotePath, row.CommitSha!);
    }

    /// <summary>Two KB ids that share a partition queue, so one's request waits for the other's.</summary>
    private (string Kb, string Neighbour) TwoKbsOfOnePartition()
    {
        const string kb = "conflict-kb";
        var partition = Partitioning.PartitionOf(kb, _sandbox.Partitions);
        var neighbour = Enumerable.Range(0, 1000).Select(i => $"neighbour-{i}").First(id => Partitioning.PartitionOf(id, _sandbox.Partitions) == partition);
        return (kb, neighbour);
    }

    /// <summary>A person's commit with the git command line: clone, <paramref name="change"/> the work tree, commit everything, push.</summary>
    private async Task CommitAsForeignWriterAsync(GitRemote remote, Action<string> change)
    {
        var work = _sandbox.Folder.Combine("person-" + Guid.NewGuid().ToString("N"));
        await GitCli.OutputAsync(null, "clone", "-q", remote.Path, work);
        await GitCli.OutputAsync(work, "config", "user.name", "foreign");
        await GitCli.OutputAsync(work, "config", "user.email", "foreign@example.com");
        await GitCli.OutputAsync(work, "checkout", "-q", "-B", remote.Branch);
        change(work);
        await GitCli.OutputAsync(work, "add", "-A");
        await GitCli.OutputAsync(work, "commit", "-q", "-m", "Foreign commit");
        await GitCli.OutputAsync(work, "push", "-q", "origin", $"HEAD:refs/heads/{remote.Branch}");
    }
}

using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// A remote on the worker's file system is pushed to without libgit2's transport (the saved pack is
/// copied in, the branch moved by compare-and-swap under git's own ref lock): people pushing to it
/// with git at the same time, and a ref another writer holds locked, lose nothing. (What happens to
/// a lock whose writer died, or that outlasts every replay: <see cref="LocalRemoteLockTests"/>.)
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class LocalRemoteTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private ProducerHost _producer = null!;
    private WorkerProcess _worker = null!;

    private string BranchLock => Path.Combine(_remote.Path, "refs", "heads", "main.lock");

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("local-kb");
        await _sandbox.RegisterKbAsync("local-kb", _remote.Path);
        _worker = await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__MaxPushAttempts"] = "1000" });
        _producer = await _sandbox.StartProducerAsync();
    }

    public async Task DisposeAsync()
    {
        await _producer.DisposeAsync();
        await _sandbox.DisposeAsync();
    }

    [Fact]
    public async Task Notes_and_git_pushes_to_the_same_local_branch_all_survive_and_the_remote_stays_complete()
    {
        var person = new ForeignWriter(_remote.Path, _sandbox.Folder.Combine("person"));
        var writing = person.WriteAsync(count: 15, pause: TimeSpan.FromMilliseconds(20));
        var ids = new List<Guid>();
        for (var n = 0; n < 20; n++)
        {
            ids.Add(await _producer.Client.SubmitNoteAsync("local-kb", "alice", new NoteContent($"KbSync note {n}")));
            await Task.Delay(30);
        }

        await writing;
        foreach (var id in ids)
        {
            var row = await _sandbox.WaitForOperationAsync(id, TimeSpan.FromMinutes(2));
            Assert.True(row.Status == OperationStatus.Succeeded, $"{row.ErrorCode}: {row.ErrorMessage}");
        }

        var commits = _remote.Commits();
        Assert.Equal(15, commits.Count(c => c.AuthorName == "foreign"));
        Assert.Equal(ids, commits.Where(c => c.Trailers is not null).Select(c => c.Trailers!.OperationId));
        Assert.All(commits, c => Assert.Equal(c == commits[0] ? 0 : 1, c.ParentCount));
        await GitCli.AssertCompleteAsync(_remote.Path);
    }

    [Fact]
    public async Task A_branch_another_writer_holds_locked_is_pushed_once_the_lock_is_released()
    {
        var first = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync("local-kb", "alice", new NoteContent("Before the lock.")));
        Assert.Equal(OperationStatus.Succeeded, first.Status);
        await File.WriteAllTextAsync(BranchLock, "");

        var second = await _producer.Client.SubmitNoteAsync("local-kb", "alice", new NoteContent("While the branch is locked."));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!_worker.Output.Contains("main.lock is held by") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Contains("main.lock is held by a writer that left no KbSync record", _worker.Output);
        Assert.Null((await _sandbox.FindOperationAsync(second))?.FinishedAt);
        File.Delete(BranchLock);
        var row = await _sandbox.WaitForOperationAsync(second);

        Assert.Equal(OperationStatus.Succeeded, row.Status);
        Assert.Equal([first.CommitSha, row.CommitSha], _remote.Commits().Select(c => c.Sha));
        await GitCli.AssertCompleteAsync(_remote.Path);
    }

    [Fact]
    public async Task A_lock_left_on_the_branch_for_minutes_fails_the_note_with_a_reason_and_what_to_do()
    {
        Assert.Equal(OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync("local-kb", "alice", new NoteContent("Before.")))).Status);
        await File.WriteAllTextAsync(BranchLock, "");
        File.SetLastWriteTimeUtc(BranchLock, DateTime.UtcNow.AddMinutes(-5));

        var row = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync("local-kb", "alice", new NoteContent("Blocked.")));

        Assert.Equal(OperationStatus.Failed, row.Status);
        Assert.Equal(ReasonCodes.RemoteLocked, row.ErrorCode);
        Assert.Contains("main.lock", row.ErrorMessage);
        Assert.Contains("for more than 60 s", row.ErrorMessage);
        Assert.Contains("remove the lock file", row.ErrorMessage);
        Assert.Single(_remote.Commits());
        Assert.True(File.Exists(BranchLock), "KbSync must not remove a lock it does not hold");
    }
}

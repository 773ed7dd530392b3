using System.Diagnostics;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker.Git;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// A worker (with the default number of push attempts) facing a locked branch in a local remote: a
/// lock that outlasts every replay is reported as what it is (<c>remote_locked</c>, naming the lock
/// and its holder), a lock recorded by a live KbSync process holds until that process dies and is
/// then cleared at the next push, and a branch that would reach outside the repository is refused.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class LocalRemoteLockTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private ProducerHost _producer = null!;
    private WorkerProcess _worker = null!;

    private string BranchLock => Path.Combine(_remote.Path, "refs", "heads", "main.lock");
    private string Record => Path.Combine(_remote.Path, "kbsync", "ref-locks", "main");

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("locked-kb");
        await _sandbox.RegisterKbAsync("locked-kb", _remote.Path);
        _worker = await _sandbox.StartWorkerAsync("w1");
        _producer = await _sandbox.StartProducerAsync();
        Assert.Equal(OperationStatus.Succeeded, (await NoteAsync("Before the lock.")).Status);
    }

    public async Task DisposeAsync()
    {
        await _producer.DisposeAsync();
        await _sandbox.DisposeAsync();
    }

    [Fact]
    public async Task A_lock_that_outlasts_every_replay_fails_the_note_as_remote_locked_naming_the_lock_not_as_a_moving_branch()
    {
        await File.WriteAllTextAsync(BranchLock, _remote.Commits()[0].Sha + "\n");

        var row = await NoteAsync("Blocked.");

        Assert.Equal(OperationStatus.Failed, row.Status);
        Assert.Equal(ReasonCodes.RemoteLocked, row.ErrorCode);
        Assert.Contains(BranchLock, row.ErrorMessage);
        Assert.Contains("held by a writer that left no KbSync record", row.ErrorMessage);
        Assert.Contains("gave up after 5 attempts", row.ErrorMessage);
        Assert.DoesNotContain("kept moving", row.ErrorMessage);
        Assert.True(File.Exists(BranchLock), "KbSync must not remove a lock nobody can vouch for");
        Assert.Single(_remote.Commits());
    }

    [Fact]
    public async Task A_lock_recorded_by_a_live_KbSync_process_holds_the_branch_until_that_process_dies()
    {
        using var other = Process.Start(new ProcessStartInfo("sleep", ["120"]))!;
        var head = _remote.Commits()[0].Sha;
        Directory.CreateDirectory(Path.GetDirectoryName(Record)!);
        await File.WriteAllTextAsync(Record, RemoteRefLock.RecordOf(RefLockOwner.OfProcess(other.Id, "w-other")!, head));
        await File.WriteAllTextAsync(BranchLock, head + "\n");

        var whileAlive = await NoteAsync("While the other worker lives.");

        Assert.Equal(ReasonCodes.RemoteLocked, whileAlive.ErrorCode);
        Assert.Contains($"KbSync worker w-other (pid {other.Id} on {Environment.MachineName}), which is running", whileAlive.ErrorMessage);
        Assert.True(File.Exists(BranchLock));

        other.Kill();
        await other.WaitForExitAsync();
        var after = Stopwatch.StartNew();
        var afterDeath = await NoteAsync("Once it died.");

        Assert.True(afterDeath.Status == OperationStatus.Succeeded, $"{afterDeath.ErrorCode}: {afterDeath.ErrorMessage}");
        Assert.True(after.Elapsed < TimeSpan.FromSeconds(10), $"took {after.Elapsed}");
        Assert.Contains($"removed the ref lock {BranchLock} left by KbSync worker w-other (pid {other.Id}", _worker.Output);
        Assert.False(File.Exists(BranchLock));
        Assert.False(File.Exists(Record));
        Assert.Equal([head, afterDeath.CommitSha], _remote.Commits().Select(c => c.Sha));
        await GitCli.AssertCompleteAsync(_remote.Path);
    }

    [Fact]
    public async Task A_KB_whose_branch_would_reach_outside_the_refs_folder_fails_its_notes_as_invalid_request()
    {
        var escaping = _sandbox.CreateRemote("escaping-kb");
        await _sandbox.RegisterKbAsync("escaping-kb", escaping.Path, branch: "/escape"); // registration lets a leading '/' through

        var row = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync("escaping-kb", "alice", new NoteContent("Nowhere to go.")));

        Assert.Equal(ReasonCodes.InvalidRequest, row.ErrorCode);
        Assert.Contains("'/escape' is not a valid git branch name", row.ErrorMessage);
        Assert.False(File.Exists("/escape.lock"));
        Assert.False(File.Exists("/escape"));
    }

    private async Task<KbSync.Persistence.Entities.OperationRecord> NoteAsync(string text) =>
        await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync("locked-kb", "alice", new NoteContent(text)));
}

using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker.Operations;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// A worker SIGKILLed at each step of an operation (KBSYNC_CRASH_AT), then another worker on the
/// same data folder: nothing left behind blocks it, stale lock files in the clone are cleared, and
/// the redelivered request lands exactly once.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class CrashRecoveryTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private string _dataPath = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("crash-kb");
        await _sandbox.RegisterKbAsync("crash-kb", _remote.Path);
        _dataPath = _sandbox.Folder.Combine("shared-data");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Theory]
    [InlineData(CrashPoint.ObjectsWritten)]
    [InlineData(CrashPoint.Committed)]
    [InlineData(CrashPoint.Pushed)]
    public async Task A_worker_killed_mid_operation_leaves_nothing_that_blocks_and_the_request_lands_exactly_once(string crashPoint)
    {
        var doomed = await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__DataPath"] = _dataPath, ["KBSYNC_CRASH_AT"] = crashPoint });
        await using var producer = await _sandbox.StartProducerAsync();
        var operationId = await producer.Client.SubmitNoteAsync("crash-kb", "alice", new NoteContent($"Survives a crash at {crashPoint}."));

        await doomed.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Contains($"KBSYNC_CRASH_AT={crashPoint}", doomed.Output);
        Assert.Equal(crashPoint == CrashPoint.Pushed ? 1 : 0, _remote.Commits().Count);
        var clone = Path.Combine(_dataPath, "kbs", "crash-kb.git");
        string[] staleLocks = [Path.Combine(clone, "refs", "heads", "main.lock"), Path.Combine(clone, "packed-refs.lock"), Path.Combine(clone, "HEAD.lock")];
        foreach (var stale in staleLocks)
        {
            await File.WriteAllTextAsync(stale, "left by a killed process\n");
        }

        await _sandbox.StartWorkerAsync("w2", new Dictionary<string, string> { ["KbWorker__DataPath"] = _dataPath });
        var row = await _sandbox.WaitForOperationAsync(operationId);

        Assert.Equal(OperationStatus.Succeeded, row.Status);
        Assert.Equal("w2", row.WorkerId);
        Assert.Equal(2, row.Attempts);
        var commit = Assert.Single(_remote.Commits());
        Assert.Equal(operationId, commit.Trailers!.OperationId);
        Assert.Equal(commit.Sha, row.CommitSha);
        Assert.All(staleLocks, stale => Assert.False(File.Exists(stale), $"{stale} is still there"));

        var next = await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("crash-kb", "bob", new NoteContent("And life goes on.")));
        Assert.Equal(OperationStatus.Succeeded, next.Status);
        Assert.Equal(2, _remote.Commits().Count);
        await GitCli.AssertCompleteAsync(_remote.Path);
    }
}

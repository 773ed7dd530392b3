using System.Diagnostics;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker.Failures;
using Xunit.Abstractions;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// A worker SIGKILLed at each step of an operation (KBSYNC_CRASH_AT), then another worker on the
/// same data folder: nothing left behind blocks it, stale lock files in the clone are cleared, and
/// the redelivered request lands exactly once. A worker killed in the middle of a push to a local
/// remote leaves nothing there that blocks the next owner of the KB either.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class CrashRecoveryTests(RabbitMqService rabbit, PostgresService postgres, ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>How soon the notes must land once the next worker is up: a dead writer's ref lock must cost seconds, not the 60 s a lock may age.</summary>
    private static readonly TimeSpan LandsWithin = TimeSpan.FromSeconds(10);

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

    [Theory]
    [InlineData(CrashPoint.RemotePackCopied)]
    [InlineData(CrashPoint.RemoteRefLocked)]
    [InlineData(CrashPoint.RemoteRefRenamed)]
    public async Task A_worker_killed_mid_push_to_a_local_remote_blocks_nothing_and_the_next_notes_land_within_seconds(string crashPoint)
    {
        var doomed = await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KBSYNC_CRASH_AT"] = crashPoint });
        await using var producer = await _sandbox.StartProducerAsync();
        var killed = await producer.Client.SubmitNoteAsync("crash-kb", "alice", new NoteContent($"Survives a crash at {crashPoint}."));

        await doomed.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Contains($"KBSYNC_CRASH_AT={crashPoint}", doomed.Output);
        var branchLock = Path.Combine(_remote.Path, "refs", "heads", "main.lock");
        var record = Path.Combine(_remote.Path, "kbsync", "ref-locks", "main");
        Assert.Equal(crashPoint == CrashPoint.RemoteRefLocked, File.Exists(branchLock));
        var recordLeft = File.Exists(record);
        Assert.Equal(crashPoint == CrashPoint.RemoteRefRenamed ? 1 : 0, _remote.Commits().Count);

        await _sandbox.StartWorkerAsync("w2"); // a data folder of its own: all it shares with w1 is the remote
        var started = Stopwatch.StartNew();
        var next = new List<Guid>();
        for (var n = 1; n <= 3; n++)
        {
            next.Add(await producer.Client.SubmitNoteAsync("crash-kb", "bob", new NoteContent($"Note {n} after the crash at {crashPoint}.")));
        }

        var rows = new List<KbSync.Persistence.Entities.OperationRecord>();
        foreach (var id in next.Prepend(killed))
        {
            rows.Add(await _sandbox.WaitForOperationAsync(id, LandsWithin + TimeSpan.FromSeconds(30)));
        }

        var landed = started.Elapsed;
        output.WriteLine($"crash at {crashPoint}: the killed note and 3 more landed {landed.TotalSeconds:0.00} s after the next worker was up");
        Assert.All(rows, row => Assert.True(row.Status == OperationStatus.Succeeded, $"{row.Id}: {row.Status} {row.ErrorCode}: {row.ErrorMessage}\n{_sandbox.WorkerOutput()}"));
        Assert.All(rows, row => Assert.Equal("w2", row.WorkerId));
        Assert.Equal(2, rows[0].Attempts);
        Assert.Equal(next.Prepend(killed), _remote.Commits().Select(c => c.Trailers!.OperationId)); // each exactly once, in publish order
        Assert.True(landed < LandsWithin, $"the notes took {landed} to land after the crash at {crashPoint}");
        Assert.False(File.Exists(branchLock), "the dead worker's ref lock is still there");
        Assert.False(File.Exists(record), "the dead worker's lock record is still there");
        Assert.Equal(crashPoint != CrashPoint.RemotePackCopied, recordLeft);
        if (crashPoint == CrashPoint.RemoteRefLocked)
        {
            Assert.Contains("left by KbSync worker w1", _sandbox.Workers[1].Output);
        }

        await GitCli.AssertCompleteAsync(_remote.Path);
    }
}

using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// The KB lock across processes. SAC already keeps two workers off one partition, so the other
/// process here is a real lock holder on the worker's data folder (as a second worker sharing it
/// would be): the worker must wait for it, and a holder that is killed must never block anyone.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class KbLockTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private string _dataPath = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 1);
        _remote = _sandbox.CreateRemote("locked-kb");
        await _sandbox.RegisterKbAsync("locked-kb", _remote.Path);
        await _sandbox.RegisterKbAsync("other-kb", _sandbox.CreateRemote("other-kb").Path);
        _dataPath = _sandbox.Folder.Combine("shared-data");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    private Task<WorkerProcess> StartWorkerAsync(string lockTimeout = "00:05:00", string id = "w1") => _sandbox.StartWorkerAsync(id, new Dictionary<string, string>
    {
        ["KbWorker__DataPath"] = _dataPath,
        ["KbWorker__LockTimeout"] = lockTimeout,
        ["KbWorker__StopTimeout"] = "00:00:03",
    });

    private string LockFile(string kb) => Path.Combine(_dataPath, "locks", kb + ".lock");

    [Fact]
    public async Task A_graceful_stop_does_not_wait_for_a_stuck_run_past_its_stop_timeout_and_the_request_lands_afterwards()
    {
        var worker = await StartWorkerAsync();
        await using var producer = await _sandbox.StartProducerAsync();
        using var holder = await LockHolder.HoldAsync(LockFile("locked-kb"));
        var id = await producer.Client.SubmitNoteAsync("locked-kb", "alice", new NoteContent("Stuck behind the lock when the worker stops."));
        await WaitUntilRunningAsync(id);

        var took = await worker.StopAsync();

        Assert.True(took < TimeSpan.FromSeconds(10), $"the stop took {took.TotalSeconds:0.0} s with a 3 s stop timeout:\n{worker.OutputTail()}");
        Assert.Contains("Stopping: partition 0 not handed over after 00:00:03 (a run of 1 in progress", worker.Output);
        Assert.Empty(_remote.Commits());
        holder.Kill();
        await StartWorkerAsync(id: "w2");
        var row = await _sandbox.WaitForOperationAsync(id);
        Assert.True(row.Status == OperationStatus.Succeeded, $"{row.Status} {row.ErrorCode}: {row.ErrorMessage} (worker {row.WorkerId})\n{_sandbox.WorkerOutput()}");
        Assert.Single(_remote.Commits());
    }

    private async Task WaitUntilRunningAsync(Guid id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await _sandbox.FindOperationAsync(id))?.Status != OperationStatus.Running)
        {
            Assert.True(DateTime.UtcNow < deadline, "the note never started:\n" + _sandbox.WorkerOutput());
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_worker_waits_for_a_lock_held_by_another_process_and_records_the_wait()
    {
        await StartWorkerAsync();
        await using var producer = await _sandbox.StartProducerAsync();
        await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("other-kb", "alice", new NoteContent("Warms the worker up.")));
        using var holder = await LockHolder.HoldAsync(LockFile("locked-kb"));

        var id = await producer.Client.SubmitNoteAsync("locked-kb", "alice", new NoteContent("Waits for the lock."));
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Empty(_remote.Commits());
        Assert.NotEqual(OperationStatus.Succeeded, (await _sandbox.FindOperationAsync(id))?.Status);
        holder.Kill();
        var releasedAt = DateTimeOffset.UtcNow;

        var row = await _sandbox.WaitForOperationAsync(id);
        Assert.Equal(OperationStatus.Succeeded, row.Status);
        var heldWhileWaiting = (releasedAt - row.StartedAt!.Value).TotalMilliseconds;
        Assert.True(heldWhileWaiting > 500, $"the worker started only {heldWhileWaiting} ms before the lock was released");
        Assert.True(row.LockWaitMs >= heldWhileWaiting - 500, $"lock wait {row.LockWaitMs} ms, but the lock was held {heldWhileWaiting} ms after the worker started");
        Assert.Single(_remote.Commits());
    }

    [Fact]
    public async Task A_lock_held_too_long_fails_with_lock_timeout_and_the_partition_goes_on()
    {
        await StartWorkerAsync(lockTimeout: "00:00:02");
        await using var producer = await _sandbox.StartProducerAsync();
        using var holder = await LockHolder.HoldAsync(LockFile("locked-kb"));

        var blocked = await producer.Client.SubmitNoteAsync("locked-kb", "alice", new NoteContent("Never gets the lock."));
        var next = await producer.Client.SubmitNoteAsync("other-kb", "alice", new NoteContent("Same partition, other KB."));

        var failed = await _sandbox.WaitForOperationAsync(blocked);
        Assert.Equal(ReasonCodes.LockTimeout, failed.ErrorCode);
        Assert.Contains("KbWorker__LockTimeout", failed.ErrorMessage);
        Assert.Equal(OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(next)).Status);
        Assert.Empty(_remote.Commits());
    }

    [Fact]
    public async Task A_lock_file_left_by_a_killed_process_blocks_nobody()
    {
        using (var holder = await LockHolder.HoldAsync(LockFile("locked-kb")))
        {
            holder.Kill();
        }

        Assert.True(File.Exists(LockFile("locked-kb")));
        await StartWorkerAsync(lockTimeout: "00:00:05");
        await using var producer = await _sandbox.StartProducerAsync();

        var row = await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("locked-kb", "alice", new NoteContent("The lock file is still there.")));

        Assert.Equal(OperationStatus.Succeeded, row.Status);
        Assert.True(row.LockWaitMs < 1000, $"lock wait {row.LockWaitMs} ms");
    }
}

using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>Every operation and every git network call has a deadline; a silent remote cannot hang a worker.</summary>
[Collection(ServicesCollection.Name)]
public sealed class DeadlineTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitHttpServer _server = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 1);
        _server = new GitHttpServer(_sandbox.Folder.Combine("http"));
        await _sandbox.RegisterKbAsync("silent-kb", _server.CreateRepository("silent-kb").Url);
        await _sandbox.RegisterKbAsync("fine-kb", _sandbox.CreateRemote("fine-kb").Path);
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task A_remote_that_accepts_and_never_answers_fails_with_network_timeout_and_the_partition_goes_on()
    {
        _server.Silent = true;
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__NetworkTimeout"] = "00:00:03" });
        await using var producer = await _sandbox.StartProducerAsync();

        var stuck = await producer.Client.SubmitNoteAsync("silent-kb", "alice", new NoteContent("The remote says nothing."));
        var next = await producer.Client.SubmitNoteAsync("fine-kb", "alice", new NoteContent("Behind it in the same partition."));

        var failed = await _sandbox.WaitForOperationAsync(stuck, TimeSpan.FromSeconds(60));
        Assert.Equal(ReasonCodes.NetworkTimeout, failed.ErrorCode);
        Assert.True(failed.FinishedAt - failed.StartedAt < TimeSpan.FromSeconds(30), $"took {failed.FinishedAt - failed.StartedAt}");
        Assert.Equal(OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(next)).Status);
    }

    [Fact]
    public async Task An_operation_past_its_deadline_is_recorded_as_timed_out_and_its_lock_released()
    {
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string>
        {
            ["KbWorker__NoteTimeout"] = "00:00:02",
            ["KbWorker__DataPath"] = _sandbox.Folder.Combine("data"),
        });
        await using var producer = await _sandbox.StartProducerAsync();
        using var holder = await LockHolder.HoldAsync(_sandbox.Folder.Combine("data", "locks", "fine-kb.lock"));
        var operationId = Guid.NewGuid();
        await using var watch = await producer.Client.WatchAsync(operationId);

        await producer.Client.SubmitNoteAsync("fine-kb", "alice", new NoteContent("Too slow."), operationId);
        var result = await watch.ResultAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(OperationStatus.TimedOut, result.Status);
        Assert.Equal(ReasonCodes.TimedOut, result.ReasonCode);
        Assert.Equal(OperationStatus.TimedOut, (await _sandbox.FindOperationAsync(operationId))!.Status);
        holder.Kill();
        var after = await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("fine-kb", "alice", new NoteContent("Next one gets the lock.")));
        Assert.Equal(OperationStatus.Succeeded, after.Status);
    }
}

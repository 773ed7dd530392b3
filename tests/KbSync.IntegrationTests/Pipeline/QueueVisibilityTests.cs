using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>"Where is my request?": every request is in history as queued from the moment it enters its queue, with its place in line.</summary>
[Collection(ServicesCollection.Name)]
public sealed class QueueVisibilityTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private string _dataPath = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.RegisterKbAsync("busy-kb", _sandbox.CreateRemote("busy-kb").Path);
        _dataPath = _sandbox.Folder.Combine("data");
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__DataPath"] = _dataPath });
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task Requests_from_any_producer_are_queued_in_history_with_their_place_in_line()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("busy-kb", "alice", new NoteContent("warm-up")));
        using var holder = await LockHolder.HoldAsync(Path.Combine(_dataPath, "locks", "busy-kb.lock"));
        var first = await producer.Client.SubmitNoteAsync("busy-kb", "alice", new NoteContent("stuck behind the lock"));
        await WaitForAsync(first, r => r?.Status == OperationStatus.Running);

        await using var raw = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);
        var ids = new List<Guid>();
        for (var n = 0; n < 3; n++)
        {
            var id = Guid.NewGuid();
            ids.Add(id);
            await raw.PublishAsync("busy-kb", JsonSerializer.Serialize(new { operationId = id, kbId = "busy-kb", requestedBy = "bot", requestedAt = DateTimeOffset.UtcNow, note = new { text = $"raw {n}" } }));
        }

        foreach (var id in ids)
        {
            Assert.Equal(OperationStatus.Queued, (await WaitForAsync(id, r => r is not null)).Status);
        }

        var status = await CliRunner.RunAsync(_sandbox.Environment(), "status", ids[1].ToString());
        Assert.Contains("#3 in queue for busy-kb", status.Output);
        var running = await CliRunner.RunAsync(_sandbox.Environment(), "status", first.ToString());
        Assert.Contains("running for busy-kb: waiting for the KB lock", running.Output);

        holder.Kill();
        foreach (var id in ids)
        {
            var done = await _sandbox.WaitForOperationAsync(id);
            Assert.Equal(OperationStatus.Succeeded, done.Status);
            Assert.True(done.QueueWaitMs > 0);
        }
    }

    private async Task<Persistence.Entities.OperationRecord> WaitForAsync(Guid id, Func<Persistence.Entities.OperationRecord?, bool> condition)
    {
        for (var waited = 0; ; waited += 100)
        {
            var row = await _sandbox.FindOperationAsync(id);
            if (row is not null && condition(row))
            {
                return row;
            }

            Assert.True(waited < 30_000, $"operation {id} never got there: {row?.Status}");
            await Task.Delay(100);
        }
    }
}

using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// A files task that reads a large file hundreds of times used to produce hundreds of megabytes of
/// output, too big for an event or a history row and sent again on every retry. Now reading past
/// <c>KbWorker__FilesAgentMaxReadBytes</c> fails the task, and a task within it has its result cut at
/// <c>KbWorker__MaxResultBytes</c>; either way the partition goes on.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class AgentResultSizeTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const int FileBytes = 1024 * 1024;
    private KbSyncSandbox _sandbox = null!;
    private ProducerHost _producer = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 1);
        await _sandbox.RegisterKbsWithRemotesAsync(["big-reads", "other"]);
        await _sandbox.StartWorkerAsync("w1");
        _producer = await _sandbox.StartProducerAsync();
        var created = await RunAsync(new FileOperation(FileOps.CreateFile, "topics/large.md", Content: new string('x', FileBytes)));
        Assert.Equal(OperationStatus.Succeeded, created.Status);
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_task_reading_past_the_read_cap_fails_and_the_partition_goes_on()
    {
        var reads = Enumerable.Repeat(new FileOperation(FileOps.ReadFile, "topics/large.md"), 300).ToArray(); // 300 MB, past 256 MB

        var row = await RunAsync(reads);

        Assert.True(row.Status == OperationStatus.Failed, $"{row.Status} {row.ErrorCode}: {row.ErrorMessage}");
        Assert.Equal(ReasonCodes.AgentFailed, row.ErrorCode);
        Assert.Contains("KbWorker__FilesAgentMaxReadBytes", row.ErrorMessage);
        await ANoteToTheOtherKbLandsAsync();
    }

    [Fact]
    public async Task A_task_within_the_read_cap_has_its_result_cut_at_the_result_cap_in_history_and_event()
    {
        var reads = Enumerable.Repeat(new FileOperation(FileOps.ReadFile, "topics/large.md"), 100).ToArray(); // 100 MB of output asked
        var id = Guid.NewGuid();
        await using var watch = await _producer.Client.WatchAsync(id);
        await _producer.Client.SubmitAgentTaskAsync("big-reads", "alice", new AgentTaskContent("read a lot", Operations: reads), id);

        var result = await watch.ResultAsync(TimeSpan.FromSeconds(120));
        var row = await _sandbox.WaitForOperationAsync(id);

        Assert.Equal(OperationStatus.Succeeded, row.Status);
        var stored = JsonSerializer.Deserialize<AgentResult>(row.ResultJson!, new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
        var outputBytes = stored.Outputs.Sum(o => System.Text.Encoding.UTF8.GetByteCount(o.Output));
        Assert.InRange(outputBytes, 1, 4 * 1024 * 1024 + 64 * 1024); // KbWorker__MaxResultBytes, plus the markers
        Assert.Contains(stored.Outputs, o => o.Output.Contains("KbWorker__MaxResultBytes"));
        Assert.Equal(stored.Outputs.Count, result.Agent!.Outputs.Count);
        Assert.Equal(outputBytes, result.Agent.Outputs.Sum(o => System.Text.Encoding.UTF8.GetByteCount(o.Output)));
        await ANoteToTheOtherKbLandsAsync();
    }

    private async Task<Persistence.Entities.OperationRecord> RunAsync(params FileOperation[] operations)
    {
        var id = await _producer.Client.SubmitAgentTaskAsync("big-reads", "alice", new AgentTaskContent("files", Operations: operations));
        return await _sandbox.WaitForOperationAsync(id, TimeSpan.FromSeconds(120));
    }

    private async Task ANoteToTheOtherKbLandsAsync()
    {
        var row = await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync("other", "bob", new NoteContent($"after the big reads {Guid.NewGuid()}")), TimeSpan.FromSeconds(30));
        Assert.Equal(OperationStatus.Succeeded, row.Status);
    }
}

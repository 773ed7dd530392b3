using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// What a files task returns is stored (PostgreSQL, which refuses NUL in text and jsonb) and sent: a
/// binary file read, or a request naming an operation with NUL in it, ends like any other task instead
/// of failing at the history write and being retried.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class FilesAgentOutputTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = (await _sandbox.RegisterKbsWithRemotesAsync(["binary-kb"]))["binary-kb"];
        await _sandbox.StartWorkerAsync("w1");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_binary_file_read_and_an_operation_named_with_nul_are_recorded_and_the_partition_goes_on()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var written = await _sandbox.WaitForOperationAsync(await producer.Client.SubmitAgentTaskAsync("binary-kb", "alice",
            new AgentTaskContent("write binary", Operations: [new FileOperation(FileOps.CreateFile, "data/blob.bin", Content: "a\0b")])));
        Assert.Equal(OperationStatus.Succeeded, written.Status);

        var readId = Guid.NewGuid();
        await using var watch = await producer.Client.WatchAsync(readId);
        await producer.Client.SubmitAgentTaskAsync("binary-kb", "alice", new AgentTaskContent("read binary", Operations: [new FileOperation(FileOps.ReadFile, "data/blob.bin")], ReadOnly: true), readId);
        var badOp = await producer.Client.SubmitAgentTaskAsync("binary-kb", "alice", new AgentTaskContent("bad op", Operations: [new FileOperation("read\0file", "data/blob.bin")]));
        var note = await producer.Client.SubmitNoteAsync("binary-kb", "bob", new NoteContent("After the binary read."));

        var readRow = await _sandbox.WaitForOperationAsync(readId, TimeSpan.FromSeconds(30));
        var read = await watch.ResultAsync(TimeSpan.FromSeconds(5));
        var refused = await _sandbox.WaitForOperationAsync(badOp, TimeSpan.FromSeconds(30));
        var landed = await _sandbox.WaitForOperationAsync(note, TimeSpan.FromSeconds(30));

        Assert.Equal(OperationStatus.Succeeded, read.Status);
        var output = Assert.Single(read.Agent!.Outputs);
        Assert.Equal("a\ufffdb", output.Output);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("a\0b"u8)), output.Sha256); // the hash is of the real content
        Assert.Contains("a\ufffdb", readRow.ResultJson);
        Assert.Equal(ReasonCodes.AgentFailed, refused.ErrorCode);
        Assert.Contains("'read\ufffdfile' is not an operation", refused.ErrorMessage);
        Assert.Equal(OperationStatus.Succeeded, landed.Status);
    }
}

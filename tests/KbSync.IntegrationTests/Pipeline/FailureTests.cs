using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// Requests that cannot succeed are recorded as failed with a reason, the requester gets an
/// <see cref="OperationFailed"/>, and the partition goes on. One partition here, so every KB shares
/// the queue and "goes on" is really tested.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class FailureTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 1);
        _remote = _sandbox.CreateRemote("good");
        await _sandbox.RegisterKbAsync("good", _remote.Path);
        await _sandbox.StartWorkerAsync("w1");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task An_unknown_kb_fails_with_unknown_kb_and_the_partition_goes_on()
    {
        var (failed, next) = await FailThenSucceedAsync("nobody-registered-me");

        Assert.Equal(ReasonCodes.UnknownKb, failed.ReasonCode);
        Assert.Contains("kbsync kb add nobody-registered-me", failed.Message);
        Assert.True(next.Succeeded);
    }

    [Fact]
    public async Task An_unreachable_remote_fails_with_remote_unreachable_and_the_partition_goes_on()
    {
        await _sandbox.RegisterKbAsync("gone", _sandbox.Folder.Combine("no-such-remote.git"));

        var (failed, next) = await FailThenSucceedAsync("gone");

        Assert.Equal(ReasonCodes.RemoteUnreachable, failed.ReasonCode);
        Assert.Contains("no-such-remote.git", failed.Message);
        Assert.True(next.Succeeded);
        var row = await _sandbox.FindOperationAsync(failed.OperationId);
        Assert.Equal(OperationStatus.Failed, row!.Status);
        Assert.Equal(ReasonCodes.RemoteUnreachable, row.ErrorCode);
    }

    [Fact]
    public async Task A_category_that_is_not_a_folder_name_fails_as_invalid_request()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var operationId = Guid.NewGuid();
        await using var watch = await producer.Client.WatchAsync(operationId);
        await producer.Client.SubmitNoteAsync("good", "alice", new NoteContent("text", Category: "../../etc"), operationId);

        var result = await watch.ResultAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(OperationStatus.Failed, result.Status);
        Assert.Equal(ReasonCodes.InvalidRequest, result.ReasonCode);
        Assert.Contains("not a valid category", result.Message);
        Assert.Empty(_remote.Commits());
    }

    private async Task<(Producer.Client.OperationResult Failed, Producer.Client.OperationResult Next)> FailThenSucceedAsync(string badKb)
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var bad = Guid.NewGuid();
        var good = Guid.NewGuid();
        await using var badWatch = await producer.Client.WatchAsync(bad);
        await using var goodWatch = await producer.Client.WatchAsync(good);
        await producer.Client.SubmitNoteAsync(badKb, "alice", new NoteContent("This cannot land."), bad);
        await producer.Client.SubmitNoteAsync("good", "alice", new NoteContent($"This lands after {badKb}."), good);

        var failed = await badWatch.ResultAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(OperationStatus.Failed, failed.Status);
        return (failed, await goodWatch.ResultAsync(TimeSpan.FromSeconds(60)));
    }
}

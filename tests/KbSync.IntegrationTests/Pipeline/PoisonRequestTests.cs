using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.History;
using KbSync.Persistence.Partitions;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// Requests that used to stop a partition for ever: each fails (or lands) alone, with a terminal
/// history row and an event, and a note to another KB of the same partition lands right after.
/// One partition, so every KB here shares it.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class PoisonRequestTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string FaultyUser = "fault-injected";
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);
    private KbSyncSandbox _sandbox = null!;
    private RawAmqpClient _amqp = null!;
    private GitRemote _other = null!;
    private GitRemote _target = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 1);
        _target = (await _sandbox.RegisterKbsWithRemotesAsync(["target"]))["target"];
        _other = _sandbox.CreateRemote("other");
        await _sandbox.RegisterKbAsync("other", _other.Path);
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string>
        {
            ["KBSYNC_FAULT_FOR"] = FaultyUser,
            ["KbWorker__MaxFailedAttempts"] = "3",
        });
        _amqp = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);
    }

    public async Task DisposeAsync()
    {
        await _amqp.DisposeAsync();
        await _sandbox.DisposeAsync();
    }

    [Theory]
    [InlineData("requestedBy", "failed", ReasonCodes.InvalidRequest)]
    [InlineData("title", "succeeded", null)]
    [InlineData("text", "succeeded", null)]
    public async Task A_nul_character_in_a_note_ends_that_request_alone(string field, string status, string? reason)
    {
        var id = Guid.NewGuid();
        var request = new Dictionary<string, object?>
        {
            ["operationId"] = id, ["kbId"] = "target", ["requestedBy"] = field == "requestedBy" ? "al\0ice" : "alice", ["requestedAt"] = DateTimeOffset.UtcNow,
            ["note"] = new Dictionary<string, object?> { ["text"] = field == "text" ? "nul \0 inside" : "plain text " + id, ["title"] = field == "title" ? "a \0 title" : null },
        };
        await _amqp.PublishAsync("target", JsonSerializer.Serialize(request), partitions: 1);

        var result = await ResultAsync(id, Prompt);
        Assert.Equal(status, result.GetProperty("status").GetString());
        if (reason is not null)
        {
            Assert.Equal(reason, result.GetProperty("reasonCode").GetString());
        }

        var row = await _sandbox.WaitForOperationAsync(id);
        Assert.DoesNotContain('\0', (row.RequestedBy ?? "") + row.Title + row.ErrorMessage);
        await ANoteToTheOtherKbLandsPromptlyAsync();
    }

    [Fact]
    public async Task A_nul_character_in_an_instruction_ends_that_task_alone()
    {
        var id = Guid.NewGuid();
        var request = new Dictionary<string, object?>
        {
            ["operationId"] = id, ["kbId"] = "target", ["requestedBy"] = "alice", ["requestedAt"] = DateTimeOffset.UtcNow,
            ["agentTask"] = new Dictionary<string, object?> { ["instruction"] = "list \0 it", ["operations"] = new[] { new Dictionary<string, object?> { ["op"] = "list_directory", ["path"] = "" } } },
        };
        await _amqp.PublishAsync("target", JsonSerializer.Serialize(request), partitions: 1);

        var result = await ResultAsync(id, Prompt);
        Assert.Equal("succeeded", result.GetProperty("status").GetString());
        var row = await _sandbox.WaitForOperationAsync(id);
        Assert.StartsWith("list", row.Title);
        Assert.DoesNotContain('\0', row.Title!);
        await ANoteToTheOtherKbLandsPromptlyAsync();
    }

    [Fact]
    public async Task A_read_of_a_file_holding_nul_succeeds_with_its_output_made_storable()
    {
        var write = await PublishAgentTaskAsync("""[{ "op": "create_file", "path": "topics/binary.md", "content": "before\u0000after" }]""");
        Assert.Equal("succeeded", write.GetProperty("status").GetString());

        var read = await PublishAgentTaskAsync("""[{ "op": "read_file", "path": "topics/binary.md" }]""");

        Assert.Equal("succeeded", read.GetProperty("status").GetString());
        var output = read.GetProperty("agent").GetProperty("outputs")[0].GetProperty("output").GetString();
        Assert.Equal("before\uFFFDafter", output);
        await ANoteToTheOtherKbLandsPromptlyAsync();
    }

    [Fact]
    public async Task A_request_that_keeps_hitting_a_bug_is_failed_as_internal_error_moved_to_the_error_queue_and_the_partition_goes_on()
    {
        var id = Guid.NewGuid();
        await _amqp.PublishAsync("target", NoteJson(id, FaultyUser, "this request meets a bug every time"), partitions: 1);

        var pause = await WaitForPauseAsync();
        Assert.Equal("target", pause.KbId);
        Assert.Contains("injected fault", pause.Reason);
        Assert.Contains("KbWorker__MaxFailedAttempts", pause.Reason);
        var queue = (await new OperationHistory(_sandbox.Database.Factory()).OpenQueuesAsync(partitions: 1)).Single(q => q.KbId == "target"); // what GET /queues answers
        Assert.Equal(0, queue.Paused?.Partition);
        Assert.Contains("injected fault", queue.Paused!.Reason);

        var result = await ResultAsync(id, TimeSpan.FromSeconds(60));
        Assert.Equal("failed", result.GetProperty("status").GetString());
        Assert.Equal(ReasonCodes.InternalError, result.GetProperty("reasonCode").GetString());
        Assert.Contains("failed 3 times in a row", result.GetProperty("message").GetString());
        var row = await _sandbox.WaitForOperationAsync(id);
        Assert.Equal(ReasonCodes.InternalError, row.ErrorCode);

        await ANoteToTheOtherKbLandsPromptlyAsync();
        Assert.Empty(await new PartitionPauses(_sandbox.Database.Factory()).ListAsync());
        Assert.Equal(1, await MessagesInAsync(Topology.PartitionQueue(0) + "_error"));
        Assert.DoesNotContain("malformed_message", _sandbox.WorkerOutput());
    }

    [Fact]
    public async Task A_bad_note_among_good_ones_is_found_and_failed_alone_and_the_good_ones_land_once_in_publish_order()
    {
        // published back to back, so they share groups: the backstop halves a failing group to find the bad one
        var ids = Enumerable.Range(0, 9).Select(_ => Guid.NewGuid()).ToList();
        var bad = ids[5];
        foreach (var id in ids)
        {
            await _amqp.PublishAsync("target", NoteJson(id, id == bad ? FaultyUser : "alice", "among others " + id), partitions: 1);
        }

        foreach (var id in ids)
        {
            var result = await ResultAsync(id, TimeSpan.FromSeconds(60));
            Assert.Equal(id == bad ? "failed" : "succeeded", result.GetProperty("status").GetString());
        }

        Assert.Equal(ReasonCodes.InternalError, (await _sandbox.WaitForOperationAsync(bad)).ErrorCode);
        var landed = _target.Commits().Select(c => c.Trailers?.OperationId).OfType<Guid>().Where(ids.Contains).ToList();
        Assert.Equal([.. ids.Where(id => id != bad)], landed); // each once, in publish order
        Assert.Equal(1, await MessagesInAsync(Topology.PartitionQueue(0) + "_error"));
        Assert.Contains("splitting it in halves", _sandbox.WorkerOutput()); // it ran in a group of several
        await ANoteToTheOtherKbLandsPromptlyAsync();
    }

    /// <summary>The management API publishes queue statistics every few seconds: waits for the first.</summary>
    private async Task<int> MessagesInAsync(string queue)
    {
        var deadline = DateTime.UtcNow + Prompt;
        while (true)
        {
            var json = await rabbit.GetQueueJsonAsync(_sandbox.VirtualHost.Name, queue);
            if (json.Length > 0 && JsonDocument.Parse(json).RootElement.TryGetProperty("messages", out var messages))
            {
                return messages.GetInt32();
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No statistics for queue {queue}: {json}");
            }

            await Task.Delay(250);
        }
    }

    private async Task<PartitionPauseRecordView> WaitForPauseAsync()
    {
        var pauses = new PartitionPauses(_sandbox.Database.Factory());
        var deadline = DateTime.UtcNow + Prompt;
        while (DateTime.UtcNow < deadline)
        {
            if ((await pauses.ListAsync()).FirstOrDefault() is { } pause)
            {
                return new PartitionPauseRecordView(pause.Partition, pause.KbId, pause.Reason);
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("The partition never showed as paused.\n" + _sandbox.WorkerOutput());
    }

    private sealed record PartitionPauseRecordView(int Partition, string KbId, string Reason);

    private async Task<JsonElement> PublishAgentTaskAsync(string operations)
    {
        var id = Guid.NewGuid();
        var json = $$"""
            { "operationId": "{{id}}", "kbId": "target", "requestedBy": "alice", "requestedAt": "{{DateTimeOffset.UtcNow:O}}",
              "agentTask": { "instruction": "test", "operations": {{operations}} } }
            """;
        await _amqp.PublishAsync("target", json, partitions: 1);
        return await ResultAsync(id, Prompt);
    }

    /// <summary>The request's result event; when none comes, the worker's output says why.</summary>
    private async Task<JsonElement> ResultAsync(Guid id, TimeSpan timeout)
    {
        try
        {
            return await _amqp.WaitForResultAsync(id, timeout);
        }
        catch (TimeoutException error)
        {
            throw new TimeoutException($"{error.Message}\n{_sandbox.WorkerOutput()}", error);
        }
    }

    private async Task ANoteToTheOtherKbLandsPromptlyAsync()
    {
        var id = Guid.NewGuid();
        await _amqp.PublishAsync("other", NoteJson(id, "bob", "the partition goes on " + id, kb: "other"), partitions: 1);
        var result = await ResultAsync(id, Prompt);
        Assert.Equal("succeeded", result.GetProperty("status").GetString());
        Assert.Contains(_other.Commits(), c => c.Trailers?.OperationId == id);
    }

    private static string NoteJson(Guid id, string requestedBy, string text, string kb = "target") => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["operationId"] = id, ["kbId"] = kb, ["requestedBy"] = requestedBy, ["requestedAt"] = DateTimeOffset.UtcNow,
        ["note"] = new Dictionary<string, object?> { ["text"] = text },
    });
}

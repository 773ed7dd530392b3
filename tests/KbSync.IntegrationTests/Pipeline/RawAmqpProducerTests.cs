using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>Any AMQP client in any language can be a producer: these tests use plain RabbitMQ.Client and docs/wire-format.md only.</summary>
[Collection(ServicesCollection.Name)]
public sealed class RawAmqpProducerTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("raw-kb");
        await _sandbox.RegisterKbAsync("raw-kb", _remote.Path);
        await _sandbox.StartWorkerAsync("w1");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_note_published_as_plain_json_is_committed_and_its_result_event_arrives()
    {
        await using var client = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);
        var operationId = Guid.NewGuid();
        var body = $$"""
            {
              "operationId": "{{operationId}}",
              "kbId": "raw-kb",
              "requestedBy": "python-bot",
              "requestedAt": "{{DateTimeOffset.UtcNow:O}}",
              "note": { "text": "Published without MassTransit.", "title": "From any language", "category": "bots", "tags": ["amqp"] }
            }
            """;

        await client.PublishAsync("raw-kb", body);
        var result = await client.WaitForResultAsync(operationId, TimeSpan.FromSeconds(60));

        Assert.Equal("succeeded", result.GetProperty("status").GetString());
        var path = result.GetProperty("notePath").GetString()!;
        Assert.EndsWith("-from-any-language.md", path);
        Assert.StartsWith("topics/bots/", path);
        var commit = Assert.Single(_remote.Commits());
        Assert.Equal(result.GetProperty("commitSha").GetString(), commit.Sha);
        Assert.Equal(operationId, commit.Trailers!.OperationId);
        Assert.Equal("python-bot", commit.AuthorName);
        Assert.Contains("Published without MassTransit.", _remote.ReadFile(path));
    }

    [Fact]
    public async Task A_request_with_empty_text_fails_with_a_reason_and_the_next_one_still_lands()
    {
        await using var client = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);
        var bad = Guid.NewGuid();
        var good = Guid.NewGuid();

        await client.PublishAsync("raw-kb", Request(bad, "   "));
        await client.PublishAsync("raw-kb", Request(good, "This one is fine."));

        var failed = await client.WaitForResultAsync(bad, TimeSpan.FromSeconds(60));
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Equal(ReasonCodes.InvalidRequest, failed.GetProperty("reasonCode").GetString());
        Assert.Contains("empty", failed.GetProperty("message").GetString());
        Assert.Equal("succeeded", (await client.WaitForResultAsync(good, TimeSpan.FromSeconds(60))).GetProperty("status").GetString());
        var row = await _sandbox.FindOperationAsync(bad);
        Assert.Equal(OperationStatus.Failed, row!.Status);
        Assert.Equal(ReasonCodes.InvalidRequest, row.ErrorCode);
        Assert.Single(_remote.Commits());
    }

    [Fact]
    public async Task A_body_that_is_not_a_request_is_recorded_as_malformed_and_the_partition_goes_on()
    {
        await using var client = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);
        var broken = Guid.NewGuid();
        var good = Guid.NewGuid();

        await client.PublishAsync("raw-kb", $$"""{ "operationId": "{{broken}}", "kbId": "raw-kb", "requestedBy": "bot", "note": { "text": 42 } }""");
        await client.PublishAsync("raw-kb", "this is not json at all");
        await client.PublishAsync("raw-kb", Request(good, "Still processed after two broken messages."));

        var failed = await client.WaitForResultAsync(broken, TimeSpan.FromSeconds(60));
        Assert.Equal(ReasonCodes.MalformedMessage, failed.GetProperty("reasonCode").GetString());
        Assert.Equal("succeeded", (await client.WaitForResultAsync(good, TimeSpan.FromSeconds(60))).GetProperty("status").GetString());

        await using var db = _sandbox.Database.CreateContext();
        var malformed = db.Operations.Where(o => o.ErrorCode == ReasonCodes.MalformedMessage).ToList();
        Assert.Equal(2, malformed.Count);
        Assert.Contains(malformed, o => o.Id == broken && o.KbId == "raw-kb");
        Assert.All(malformed, o => Assert.Equal(OperationStatus.Failed, o.Status));
    }

    [Fact]
    public async Task A_partitions_first_message_being_unreadable_does_not_hold_up_the_next()
    {
        await using var client = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);
        var good = Guid.NewGuid();

        await client.PublishAsync("raw-kb", "the first thing this partition's channel brings, and not json");
        Assert.Equal(ReasonCodes.MalformedMessage, Assert.Single(await _sandbox.WaitForFinalAsync(1, TimeSpan.FromSeconds(60))).ErrorCode);
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        await client.PublishAsync("raw-kb", Request(good, "Right behind an unreadable first delivery."));

        Assert.Equal("succeeded", (await client.WaitForResultAsync(good, TimeSpan.FromSeconds(60))).GetProperty("status").GetString());
        // the unreadable delivery leaves no gap: nothing waits for the sequencer's 30 s gap timeout
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(20), $"the note behind it took {elapsed.Elapsed}");
    }

    [Fact]
    public async Task A_request_without_an_operation_id_is_recorded_under_a_new_one()
    {
        await using var client = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);

        await client.PublishAsync("raw-kb", """{ "kbId": "raw-kb", "requestedBy": "bot", "requestedAt": "2026-01-01T00:00:00Z", "note": { "text": "no id" } }""");

        var rows = await _sandbox.WaitForFinalAsync(1, TimeSpan.FromSeconds(60));
        var row = Assert.Single(rows);
        Assert.Equal(ReasonCodes.InvalidRequest, row.ErrorCode);
        Assert.Contains("operationId is missing", row.ErrorMessage);
        Assert.Empty(_remote.Commits());
    }

    [Fact]
    public async Task A_request_whose_operation_id_is_not_a_uuid_is_answered_with_the_id_it_sent()
    {
        await using var client = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);

        await client.PublishAsync("raw-kb", """{ "operationId": "order-42", "kbId": "raw-kb", "requestedBy": "bot", "requestedAt": "2026-01-01T00:00:00Z", "note": { "text": "id is no uuid" } }""");

        var failed = await client.WaitForResultAsync(r => r.TryGetProperty("sentOperationId", out var sent) && sent.GetString() == "order-42", TimeSpan.FromSeconds(60));
        Assert.Equal(ReasonCodes.MalformedMessage, failed.GetProperty("reasonCode").GetString());
        Assert.Contains("operationId order-42 is not a UUID", failed.GetProperty("message").GetString());
        Assert.Equal("raw-kb", failed.GetProperty("kbId").GetString());
        Assert.Empty(_remote.Commits());
    }

    [Fact]
    public async Task A_request_with_a_content_type_that_is_not_json_fails_saying_so()
    {
        await using var client = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);
        var id = Guid.NewGuid();

        await client.PublishAsync("raw-kb", Request(id, "sent as text/plain"), contentType: "text/plain");

        var failed = await client.WaitForResultAsync(id, TimeSpan.FromSeconds(60));
        Assert.Equal(ReasonCodes.MalformedMessage, failed.GetProperty("reasonCode").GetString());
        Assert.Contains("content type text/plain is not one a request may have", failed.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("1970-01-01T00:00:00Z")]
    [InlineData("2999-01-01T00:00:00Z")]
    public async Task A_request_dated_outside_a_sane_range_fails_as_invalid(string requestedAt)
    {
        await using var client = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost);
        var id = Guid.NewGuid();

        await client.PublishAsync("raw-kb", $$"""{ "operationId": "{{id}}", "kbId": "raw-kb", "requestedBy": "bot", "requestedAt": "{{requestedAt}}", "note": { "text": "when?" } }""");

        var failed = await client.WaitForResultAsync(id, TimeSpan.FromSeconds(60));
        Assert.Equal(ReasonCodes.InvalidRequest, failed.GetProperty("reasonCode").GetString());
        Assert.Contains("requestedAt", failed.GetProperty("message").GetString());
        Assert.Empty(_remote.Commits());
    }

    private static string Request(Guid operationId, string text) => JsonSerializer.Serialize(new
    {
        operationId,
        kbId = "raw-kb",
        requestedBy = "python-bot",
        requestedAt = DateTimeOffset.UtcNow,
        note = new { text },
    });
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Producer.Client;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// A partition queue holds at most <c>RabbitMq__MaxQueueLength</c> requests: a flooded partition
/// pushes back on its producers (the broker's negative confirm) instead of growing without bound,
/// and every producer says so clearly. Nothing refused is queued; what was queued still lands.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class QueueFullTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const int MaxQueueLength = 3;
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 1);
        _remote = _sandbox.CreateRemote("flooded");
        await _sandbox.RegisterKbAsync("flooded", _remote.Path);
        // a worker declares the queue with its limit, then leaves: nothing consumes while the queue fills
        var declaring = await _sandbox.StartWorkerAsync("declares", Limit());
        await declaring.StopAsync();
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_full_partition_refuses_more_requests_with_queue_full_from_every_producer_and_the_queued_ones_still_land()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        // A quorum queue checks its length as each message arrives, so it may take one more than the limit.
        var queued = new List<Guid>();
        KbSyncQueueFullException? refused = null;
        for (var i = 0; refused is null && i <= MaxQueueLength + 1; i++)
        {
            try
            {
                queued.Add(await producer.Client.SubmitNoteAsync("flooded", "alice", new NoteContent($"queued note {i}")));
            }
            catch (KbSyncQueueFullException error)
            {
                refused = error;
            }
        }

        Assert.NotNull(refused);
        Assert.InRange(queued.Count, MaxQueueLength, MaxQueueLength + 1);
        Assert.StartsWith("Queue full:", refused.Message);
        Assert.Contains($"partition 0 of {_sandbox.Partitions} (routing key {Topology.LayoutRoutingKey(_sandbox.Partitions, 0)})", refused.Message);

        var cli = await CliRunner.RunAsync(_sandbox.Environment(), "note", "flooded", "--user", "bob", "one too many from the CLI");
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("Queue full:", cli.Error);

        await using (var api = await CliRunner.StartApiAsync(_sandbox.Environment()))
        {
            var response = await api.Http.PostAsJsonAsync("/kbs/flooded/notes", new { requestedBy = "carol", text = "one too many over HTTP" });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(TimeSpan.FromSeconds(30), response.Headers.RetryAfter?.Delta);
            Assert.Equal("Queue full", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString());
        }

        await _sandbox.StartWorkerAsync("w1", Limit());
        foreach (var id in queued)
        {
            Assert.Equal(OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(id)).Status);
        }

        Assert.Equal(queued.Count, _remote.Commits().Count);
    }

    private static Dictionary<string, string> Limit() => new() { ["RabbitMq__MaxQueueLength"] = MaxQueueLength.ToString() };
}

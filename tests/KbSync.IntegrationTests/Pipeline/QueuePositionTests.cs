using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker.Messaging.Partitions;
using KbSync.Producer.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// Queue positions hold whatever runs: the API reads the queue tap as well as the workers, so with no
/// worker running the queue, the positions and <c>kbsync status</c> still show what waits; a position
/// counts the requests ahead in the partition queue, in the broker's order (not by producers' clocks),
/// every KB sharing the partition included; and a publish the broker refused leaves no queued row.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class QueuePositionTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Kb = "waiting-kb";
    private KbSyncSandbox _sandbox = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_sandbox is not null)
        {
            await _sandbox.DisposeAsync();
        }
    }

    [Fact]
    public async Task With_no_worker_running_queue_positions_the_queue_and_status_count_what_is_ahead_and_drop_once_a_worker_runs()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        await _sandbox.RegisterKbAsync(Kb, _sandbox.CreateRemote(Kb).Path);
        var neighbour = KbInSamePartition(Kb, _sandbox.Partitions);
        var neighbourRemote = _sandbox.CreateRemote(neighbour);
        await _sandbox.RegisterKbAsync(neighbour, neighbourRemote.Path);
        await DeclareQueuesAsync();
        await using var api = await CliRunner.StartApiAsync(_sandbox.Environment(), _sandbox.AdminToken);

        var accepted = new List<(Guid Id, int? Position)>();
        for (var i = 1; i <= 3; i++)
        {
            var posted = await api.Http.PostAsJsonAsync($"/kbs/{Kb}/notes", new { requestedBy = "alice", text = $"Waiting note {i}." });
            Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
            var body = await posted.Content.ReadFromJsonAsync<JsonElement>();
            accepted.Add((body.GetProperty("operationId").GetGuid(), body.GetProperty("queuePosition").GetInt32()));
        }

        Assert.Equal([1, 2, 3], accepted.Select(a => a.Position));

        // a producer whose clock is an hour behind still queues behind them: the broker's order counts, and the other KB's requests are ahead too
        await using (var raw = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost))
        {
            var lateId = Guid.NewGuid();
            await raw.PublishAsync(neighbour, JsonSerializer.Serialize(new
            {
                operationId = lateId, kbId = neighbour, requestedBy = "slow-clock", requestedAt = DateTimeOffset.UtcNow.AddHours(-1), note = new { text = "From a slow clock." },
            }));
            var view = await WaitForPositionAsync(api, lateId);
            Assert.Equal(4, view.GetProperty("queuePosition").GetInt32());
            accepted.Add((lateId, 4));
        }

        var queues = await api.Http.GetFromJsonAsync<JsonElement>("/queues");
        var mine = queues.EnumerateArray().Single(q => q.GetProperty("kbId").GetString() == Kb);
        Assert.Equal(3, mine.GetProperty("queued").GetInt32());
        Assert.Equal(1, queues.EnumerateArray().Single(q => q.GetProperty("kbId").GetString() == neighbour).GetProperty("queued").GetInt32());

        var status = await CliRunner.RunAsync(_sandbox.Environment(), "status", accepted[2].Id.ToString());
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains($"#3 in queue for {Kb}", status.Output);
        var statusJson = await CliRunner.RunAsync(_sandbox.Environment(), "status", accepted[2].Id.ToString(), "--json");
        using (var printed = JsonDocument.Parse(statusJson.Output))
        {
            Assert.Equal(3, printed.RootElement.GetProperty("queuePosition").GetInt32());
            Assert.Equal("queued", printed.RootElement.GetProperty("status").GetString());
        }

        // a worker takes them: each position only ever drops, to none once final
        await _sandbox.StartWorkerAsync("w1");
        var seen = new List<int?>();
        while (true)
        {
            var view = await api.Http.GetFromJsonAsync<JsonElement>($"/operations/{accepted[3].Id}");
            var position = view.GetProperty("queuePosition").ValueKind == JsonValueKind.Null ? (int?)null : view.GetProperty("queuePosition").GetInt32();
            if (seen.Count == 0 || seen[^1] != position)
            {
                seen.Add(position);
            }

            if (position is null)
            {
                Assert.Equal("succeeded", view.GetProperty("operation").GetProperty("status").GetString());
                break;
            }

            await Task.Delay(20);
        }

        Assert.True(seen.Zip(seen.Skip(1)).All(pair => pair.Second is null || pair.Second < pair.First), $"positions seen: {string.Join(", ", seen)}");
        foreach (var (id, _) in accepted)
        {
            Assert.Equal(Contracts.OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(id)).Status);
        }

        Assert.Empty((await api.Http.GetFromJsonAsync<JsonElement>("/queues")).EnumerateArray());
    }

    [Fact]
    public async Task A_publish_the_broker_refuses_leaves_no_queued_row_from_the_client_or_the_api()
    {
        const int maxQueueLength = 2;
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 2);
        var limit = new Dictionary<string, string> { ["RabbitMq__MaxQueueLength"] = maxQueueLength.ToString() };
        var flooded = KbInPartition(0, 2);
        var marker = KbInPartition(1, 2);
        await _sandbox.RegisterKbAsync(flooded, _sandbox.CreateRemote(flooded).Path);
        await _sandbox.RegisterKbAsync(marker, _sandbox.CreateRemote(marker).Path);
        await DeclareQueuesAsync(limit);
        // the API reads the tap, so the refused copies reach it (the CLI publishes with the same client as the producer here)
        await using var api = await CliRunner.StartApiAsync(_sandbox.Environment(), _sandbox.AdminToken);
        await using var producer = await _sandbox.StartProducerAsync();
        var queued = new List<Guid>();
        var refused = new List<Guid>();
        while (refused.Count == 0)
        {
            var id = Guid.NewGuid();
            try
            {
                await producer.Client.SubmitNoteAsync(flooded, "alice", new NoteContent($"note {queued.Count}"), id);
                queued.Add(id);
            }
            catch (KbSyncQueueFullException)
            {
                refused.Add(id);
            }

            Assert.True(queued.Count <= maxQueueLength + 1, "the partition queue took more than its limit");
        }

        var fromApi = Guid.NewGuid();
        var response = await api.Http.PostAsJsonAsync($"/kbs/{flooded}/notes", new { requestedBy = "carol", text = "one too many over HTTP", operationId = fromApi });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        refused.Add(fromApi);

        // the tap reads in the broker's order: once it has numbered a later request, it has read every refused copy and notice before it
        var markerId = await producer.Client.SubmitNoteAsync(marker, "dave", new NoteContent("published after the refusals"));
        await WaitForPositionAsync(api, markerId);

        foreach (var id in queued)
        {
            Assert.Equal(Contracts.OperationStatus.Queued, (await _sandbox.FindOperationAsync(id))?.Status);
        }

        foreach (var id in refused)
        {
            Assert.Null(await _sandbox.FindOperationAsync(id));
        }

        var queues = await api.Http.GetFromJsonAsync<JsonElement>("/queues");
        Assert.Equal(queued.Count, queues.EnumerateArray().Single(q => q.GetProperty("kbId").GetString() == flooded).GetProperty("queued").GetInt32());
    }

    /// <summary>
    /// Declares the partition queues (with their limit) as a worker does when it starts, with the worker's own
    /// <see cref="PartitionTopology"/> (which declares the queue tap too), in this process: no worker runs, nothing consumes them.
    /// </summary>
    private async Task DeclareQueuesAsync(IReadOnlyDictionary<string, string>? extra = null)
    {
        var settings = new Dictionary<string, string>(_sandbox.VirtualHost.Environment(_sandbox.Partitions));
        foreach (var (name, value) in extra ?? new Dictionary<string, string>())
        {
            settings[name] = value;
        }

        var options = new RabbitMqOptions();
        new ConfigurationBuilder().AddInMemoryCollection(settings.ToDictionary(s => s.Key.Replace("__", ":"), s => (string?)s.Value)).Build()
            .GetSection(RabbitMqOptions.Section).Bind(options);
        var layouts = new LiveLayouts(new KbSync.Persistence.Partitions.PartitionLayouts(_sandbox.Database.Factory()), Options.Create(options));
        await new PartitionTopology(layouts, Options.Create(options), NullLogger<PartitionTopology>.Instance).StartAsync(CancellationToken.None);
    }

    private static async Task<JsonElement> WaitForPositionAsync(ApiProcess api, Guid operationId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var response = await api.Http.GetAsync($"/operations/{operationId}");
            if (response.IsSuccessStatusCode && await response.Content.ReadFromJsonAsync<JsonElement>() is var view &&
                view.GetProperty("queuePosition").ValueKind == JsonValueKind.Number)
            {
                return view;
            }

            Assert.True(DateTime.UtcNow < deadline, $"operation {operationId} never got a queue position");
            await Task.Delay(50);
        }
    }

    private static string KbInSamePartition(string kbId, int partitions) =>
        Enumerable.Range(0, 1000).Select(i => $"neighbour-{i}").First(id => Partitioning.PartitionOf(id, partitions) == Partitioning.PartitionOf(kbId, partitions));

    private static string KbInPartition(int partition, int partitions) =>
        Enumerable.Range(0, 1000).Select(i => $"kb-{i}").First(id => Partitioning.PartitionOf(id, partitions) == partition);
}

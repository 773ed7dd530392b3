using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using Microsoft.EntityFrameworkCore;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// The partition count changed from 16 to 64 on a live system, as README's procedure does it: two workers,
/// notes flowing, <c>kbsync partitions change --to 64</c> mid-stream, producers routing with the old count
/// forwarded, a producer restarted with the new count, then <c>kbsync partitions retire</c>.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class PartitionLayoutChangeTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private static readonly string[] StaleKbs = Enumerable.Range(0, 8).Select(i => $"stale-{i}").ToArray();
    private static readonly string[] MovedKbs = Enumerable.Range(0, 8).Select(i => $"moved-{i}").ToArray();
    private KbSyncSandbox _sandbox = null!;
    private Dictionary<string, GitRemote> _remotes = null!;
    private readonly Dictionary<string, List<Guid>> _published = StaleKbs.Concat(MovedKbs).ToDictionary(kb => kb, _ => new List<Guid>());

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remotes = await _sandbox.RegisterKbsWithRemotesAsync(_published.Keys);
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task From_16_to_64_partitions_while_notes_flow_every_note_lands_once_in_publish_order_and_the_old_layout_is_retired()
    {
        await _sandbox.StartWorkerAsync("w1");
        await _sandbox.StartWorkerAsync("w2");
        await _sandbox.WaitUntilPartitionsSharedAsync();
        var stale = await _sandbox.StartProducerAsync(); // RabbitMq__Partitions=16 throughout: its requests are forwarded once the old partitions are drained

        // the stale producer streams; the moving one sends a burst with 16 partitions, and after the change goes on with 64
        var streaming = PublishAsync(stale, StaleKbs, 64, TimeSpan.FromMilliseconds(40));
        await using (var before = await _sandbox.StartProducerAsync())
        {
            await PublishAsync(before, MovedKbs, 40, TimeSpan.Zero);
        }

        var change = await CliRunner.RunAsync(_sandbox.Environment(), "partitions", "change", "--to", "64");
        Assert.True(change.ExitCode == 0, change.ToString());
        Assert.Contains("epoch 2, 64 partitions", change.Output);
        var environment = _sandbox.Environment();
        environment["RabbitMq__Partitions"] = "64";
        await using var moved = await ProducerHost.StartAsync(environment);
        await PublishAsync(moved, MovedKbs, 40, TimeSpan.Zero);
        await streaming;
        await AssertEveryNoteOnceInOrderAsync();

        // every old partition is drained once nothing is left to run in place: from then on the stale producer's notes are forwarded
        await WaitForDrainsAsync(16);
        Assert.Contains("drained; forwarding what still arrives to epoch 2, 64 partitions", _sandbox.WorkerOutput());
        await PublishAsync(stale, StaleKbs.Concat(MovedKbs).ToArray(), 16, TimeSpan.Zero);
        await AssertEveryNoteOnceInOrderAsync();

        var retire = await CliRunner.RunAsync(_sandbox.Environment(), "partitions", "retire");
        Assert.True(retire.ExitCode == 0, retire.ToString() + _sandbox.WorkerOutput());
        var queues = JsonDocument.Parse(await rabbit.GetQueuesJsonAsync(_sandbox.VirtualHost.Name)).RootElement.EnumerateArray()
            .Select(q => q.GetProperty("name").GetString()!).Where(n => n.StartsWith(Topology.PartitionQueuePrefix, StringComparison.Ordinal) && !n.Contains('_')).Order().ToList();
        Assert.Equal(Enumerable.Range(0, 64).Select(i => $"kb-partition-64-{i:D2}"), queues);

        // the new layout alone: every KB's next note lands, in its queue of 64
        await PublishAsync(moved, StaleKbs.Concat(MovedKbs).ToArray(), 16, TimeSpan.Zero);
        await AssertEveryNoteOnceInOrderAsync();
        var show = await CliRunner.RunAsync(_sandbox.Environment(), "partitions", "show");
        Assert.Contains("epoch 1, 16 partitions", show.Output);
        Assert.Contains("retired", show.Output);
        Assert.Contains("epoch 2, 64 partitions: queues kb-partition-64-00 … kb-partition-64-63, routing keys 64.0 … 64.63", show.Output);
    }

    /// <summary>Round-robin over the KBs, each publish confirmed before the next, so each KB's publish order is known.</summary>
    private async Task PublishAsync(ProducerHost producer, string[] kbs, int total, TimeSpan pause)
    {
        for (var n = 0; n < total; n++)
        {
            var kb = kbs[n % kbs.Length];
            var id = await producer.Client.SubmitNoteAsync(kb, "mover", new NoteContent($"Note {_published[kb].Count} for {kb}."));
            lock (_published)
            {
                _published[kb].Add(id);
            }

            await Task.Delay(pause);
        }
    }

    private async Task AssertEveryNoteOnceInOrderAsync()
    {
        var total = _published.Values.Sum(p => p.Count);
        var rows = await _sandbox.WaitForFinalAsync(total, TimeSpan.FromMinutes(2));
        Assert.Equal(total, rows.Count);
        Assert.All(rows, row => Assert.True(row.Status == OperationStatus.Succeeded, $"{row.Id}: {row.Status} {row.ErrorCode} {row.ErrorMessage}"));
        foreach (var (kb, published) in _published)
        {
            _sandbox.AssertPublishOrder(kb, published, _remotes[kb], rows);
        }
    }

    private async Task WaitForDrainsAsync(int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            await using var db = _sandbox.Database.CreateContext();
            var drained = await db.PartitionDrains.CountAsync();
            if (drained == count)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{drained} of {count} old partitions drained\n{_sandbox.WorkerOutput()}");
            await Task.Delay(200);
        }
    }
}

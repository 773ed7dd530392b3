using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// Workers share the partitions (each subscribes only to the ones it owns) and pass them on without
/// reordering a KB: when a worker joins, the others hand over part of theirs, mid-stream.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class PartitionSharingTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private static readonly string[] KbIds = Enumerable.Range(0, 12).Select(i => $"shared-{i:D2}").ToArray();
    private KbSyncSandbox _sandbox = null!;
    private Dictionary<string, GitRemote> _remotes = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remotes = await _sandbox.RegisterKbsWithRemotesAsync(KbIds);
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task Two_workers_each_take_half_of_the_partitions_and_both_do_the_work()
    {
        await _sandbox.StartWorkerAsync("w1");
        await _sandbox.StartWorkerAsync("w2");
        await _sandbox.WaitUntilPartitionsSharedAsync();
        Assert.All(_sandbox.Workers, w => Assert.Equal(_sandbox.Partitions / 2, w.OwnedPartitions.Count));

        var published = await PublishAsync(total: 96, pause: TimeSpan.Zero);
        var rows = await _sandbox.WaitForFinalAsync(96, TimeSpan.FromMinutes(3));

        AssertEachNoteOnceInPublishOrder(published, rows);
        foreach (var worker in _sandbox.Workers)
        {
            var expected = KbIds.Where(kb => worker.OwnedPartitions.Contains(Partitioning.PartitionOf(kb, _sandbox.Partitions))).Order().ToList();
            var ran = rows.Where(r => r.WorkerId == worker.Id).Select(r => r.KbId).Distinct().Order().ToList();
            Assert.Equal(expected, ran);
        }

        Assert.True(_sandbox.Workers.All(w => rows.Any(r => r.WorkerId == w.Id)), "one worker did all the work");
    }

    [Fact]
    public async Task A_worker_that_joins_under_load_takes_over_half_and_every_kb_stays_in_publish_order()
    {
        var first = await _sandbox.StartWorkerAsync("w1");
        await _sandbox.WaitUntilPartitionsSharedAsync();
        Assert.Equal(_sandbox.Partitions, first.OwnedPartitions.Count);

        // published slowly enough that the second worker joins mid-stream, however long it takes to start
        var publishing = PublishAsync(total: 300, pause: TimeSpan.FromMilliseconds(60));
        await _sandbox.WaitForFinalAsync(24, TimeSpan.FromMinutes(2));
        var second = await _sandbox.StartWorkerAsync("w2");
        await _sandbox.WaitUntilPartitionsSharedAsync();
        var finalAtJoin = (await _sandbox.WaitForFinalAsync(0, TimeSpan.Zero)).Count;
        Assert.True(finalAtJoin < 276, $"{finalAtJoin} of 300 notes were done before the second worker joined: the test would prove little");

        var published = await publishing;
        var rows = await _sandbox.WaitForFinalAsync(300, TimeSpan.FromMinutes(3));

        AssertEachNoteOnceInPublishOrder(published, rows);
        Assert.Contains("handed over", first.Output);
        Assert.True(rows.Any(r => r.WorkerId == second.Id), "the second worker ran nothing\n" + _sandbox.WorkerOutput());
        var movedKbs = rows.GroupBy(r => r.KbId).Where(kb => kb.Select(r => r.WorkerId).Distinct().Count() == 2).Select(kb => kb.Key).ToList();
        Assert.True(movedKbs.Count > 0, "no KB moved from one worker to the other mid-stream: the test would prove nothing\n" + _sandbox.WorkerOutput());
    }

    /// <summary>
    /// PostgreSQL ends w1's lock session (a database restart or a network cut would): w2 sees the
    /// partitions free and subscribes to them while w1 still consumes. The queues' single active
    /// consumer keeps w2 waiting until w1, back in the database, finds its partitions taken and hands
    /// them over. No KB is reordered, nothing is lost or doubled, and the partitions end up shared again.
    /// </summary>
    [Fact]
    public async Task When_a_workers_lock_session_is_cut_no_kb_is_reordered_and_the_partitions_are_shared_again()
    {
        // w2 checks often, w1 seldom: w2 takes w1's partitions before w1 is back
        var first = await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__PartitionBalanceInterval"] = "00:00:05" });
        await _sandbox.StartWorkerAsync("w2", new Dictionary<string, string> { ["KbWorker__PartitionBalanceInterval"] = "00:00:00.500" });
        await _sandbox.WaitUntilPartitionsSharedAsync();

        var publishing = PublishAsync(total: 240, pause: TimeSpan.FromMilliseconds(25));
        await _sandbox.WaitForFinalAsync(30, TimeSpan.FromMinutes(2));
        await using (var database = new Npgsql.NpgsqlConnection(_sandbox.Database.ConnectionString))
        {
            await database.OpenAsync();
            await using var cut = new Npgsql.NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'kbworker w1 partitions' AND datname = current_database()", database);
            Assert.Equal(1L, await cut.ExecuteScalarAsync());
        }

        var published = await publishing;
        var rows = await _sandbox.WaitForFinalAsync(240, TimeSpan.FromMinutes(3));

        AssertEachNoteOnceInPublishOrder(published, rows);
        Assert.Contains("was taken by another worker while this one's lock session was down", first.Output);
        await _sandbox.WaitUntilPartitionsSharedAsync();
    }

    /// <summary>Round-robin over the KBs, one producer, each publish confirmed before the next: the publish order per KB is known.</summary>
    private async Task<Dictionary<string, List<Guid>>> PublishAsync(int total, TimeSpan pause)
    {
        var producer = await _sandbox.StartProducerAsync();
        var order = KbIds.ToDictionary(kb => kb, _ => new List<Guid>());
        for (var n = 0; n < total; n++)
        {
            var kb = KbIds[n % KbIds.Length];
            order[kb].Add(await producer.Client.SubmitNoteAsync(kb, "sharer", new NoteContent($"Note {n} for {kb}.")));
            await Task.Delay(pause);
        }

        return order;
    }

    private void AssertEachNoteOnceInPublishOrder(Dictionary<string, List<Guid>> published, List<OperationRecord> rows)
    {
        var total = published.Values.Sum(p => p.Count);
        Assert.Equal(total, rows.Count);
        Assert.All(rows, row => Assert.True(row.Status == OperationStatus.Succeeded, $"{row.Id}: {row.Status} {row.ErrorCode} {row.ErrorMessage}"));
        foreach (var kb in KbIds)
        {
            _sandbox.AssertPublishOrder(kb, published[kb], _remotes[kb], rows);
        }
    }
}

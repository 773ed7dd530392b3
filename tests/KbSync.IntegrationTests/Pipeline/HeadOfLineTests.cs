using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;
using KbSync.Producer.Client;
using Microsoft.EntityFrameworkCore;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// Head-of-line blocking within one partition (one partition here, so every KB shares its queue): a
/// quiet KB's request runs as soon as it is within the worker's lookahead, beside a busy KB's backlog,
/// and never waits for the busy KB's running group; each KB still lands in publish order, exactly once,
/// through a graceful hand-over to the next worker too.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class HeadOfLineTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private static readonly string[] Quiet = ["quiet-a", "quiet-b", "quiet-c"];
    private const string Hot = "hot";
    private KbSyncSandbox _sandbox = null!;
    private GitHttpServer _server = null!;
    private Dictionary<string, GitRemote> _remotes = null!;

    /// <summary>Groups of at most 10: a backlog is many groups, one after the other.</summary>
    private static readonly Dictionary<string, string> SmallGroups = new() { ["KbWorker__MaxBatchSize"] = "10" };

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 1);
        _remotes = await _sandbox.RegisterKbsWithRemotesAsync(Quiet);
        // the hot KB's remote answers every HTTP request 100 ms late: each of its groups takes a while
        _server = new GitHttpServer(_sandbox.Folder.Combine("http")) { Latency = TimeSpan.FromMilliseconds(100) };
        var hot = _server.CreateRepository(Hot);
        await _sandbox.RegisterKbAsync(Hot, hot.Url);
        _remotes[Hot] = hot.Open();
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Quiet_kbs_notes_behind_a_hot_kbs_backlog_finish_while_the_hot_kbs_group_is_still_running()
    {
        var dataPath = _sandbox.Folder.Combine("data");
        using var holder = await LockHolder.HoldAsync(Path.Combine(dataPath, "locks", Hot + ".lock")); // the hot KB's first group waits here as long as the test says
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string>(SmallGroups) { ["KbWorker__DataPath"] = dataPath });
        await using var producer = await _sandbox.StartProducerAsync();
        var published = await PublishAsync(producer.Client, [.. Enumerable.Repeat(Hot, 100), .. Interleaved(rounds: 5)]);

        var quiet = new List<OperationRecord>();
        foreach (var id in Quiet.SelectMany(kb => published[kb]))
        {
            quiet.Add(await _sandbox.WaitForOperationAsync(id, TimeSpan.FromSeconds(60)));
        }

        Assert.All(quiet, r => Assert.True(r.Status == OperationStatus.Succeeded, $"{r.KbId} {r.Status} {r.ErrorCode}: {r.ErrorMessage}"));
        var hot = await RowsAsync(published[Hot]);
        Assert.All(hot, r => Assert.False(r.Status.IsFinal(), $"a hot note was {r.Status} while its KB's lock was held"));
        Assert.Contains(hot, r => r.Status == OperationStatus.Running); // its first group is running, waiting for the lock

        holder.Kill();
        var rows = await _sandbox.WaitForFinalAsync(published.Values.Sum(ids => ids.Count), TimeSpan.FromMinutes(2));
        AssertEachKbOnceInPublishOrder(published, rows);
    }

    [Fact]
    public async Task With_kbs_interleaved_behind_a_backlog_and_a_graceful_hand_over_midway_each_kb_lands_once_in_publish_order()
    {
        var first = await _sandbox.StartWorkerAsync("w1", SmallGroups);
        await using var producer = await _sandbox.StartProducerAsync();
        var published = await PublishAsync(producer.Client, [.. Enumerable.Repeat(Hot, 150), .. Interleaved(rounds: 10), .. Enumerable.Repeat(Hot, 50), .. Interleaved(rounds: 10)]);
        var total = published.Values.Sum(ids => ids.Count);

        // The first quiet note, published behind 150 hot ones, does not wait for them: it runs as soon as it
        // is delivered, beside the hot KB's groups. (Run by whole-run barriers with 20 messages in flight, it
        // could start only once 130 of them were done.)
        var quietFirst = await _sandbox.WaitForOperationAsync(published[Quiet[0]][0], TimeSpan.FromSeconds(60));
        var hotFinal = (await RowsAsync(published[Hot])).Count(r => r.Status.IsFinal());
        Assert.True(hotFinal < 100, $"{hotFinal} of 200 hot notes were final when the first quiet note was ({quietFirst.Status}): it waited for the hot backlog");

        await _sandbox.StartWorkerAsync("w2", SmallGroups);
        var final = (await _sandbox.WaitForFinalAsync(total / 3, TimeSpan.FromMinutes(2))).Count;
        Assert.True(final < total, "everything finished before the hand-over: the test would prove nothing");
        var took = await first.StopAsync(); // hands the partition over to w2: its running groups finish, what waits goes back in order
        Assert.True(took < TimeSpan.FromSeconds(15), $"w1 took {took.TotalSeconds:0.0} s to stop:\n{first.OutputTail()}");
        Assert.Contains("handing over", first.Output);

        var rows = await _sandbox.WaitForFinalAsync(total, TimeSpan.FromMinutes(2));
        AssertEachKbOnceInPublishOrder(published, rows);
        Assert.Contains(rows, r => r.WorkerId == "w2" && r.KbId == Hot);
    }

    /// <summary>Each round: one note to each quiet KB, with a hot one between.</summary>
    private static IEnumerable<string> Interleaved(int rounds) => Enumerable.Range(0, rounds).SelectMany(_ => Quiet.SelectMany(kb => new[] { kb, Hot }));

    /// <summary>Publishes one note per KB id given, in that order, one after the other (each confirmed first); returns each KB's ids in publish order.</summary>
    private static async Task<Dictionary<string, List<Guid>>> PublishAsync(KbSyncClient client, IEnumerable<string> kbs)
    {
        var published = new[] { Hot }.Concat(Quiet).ToDictionary(kb => kb, _ => new List<Guid>());
        var n = 0;
        foreach (var kb in kbs)
        {
            published[kb].Add(await client.SubmitNoteAsync(kb, "alice", new NoteContent($"Note {++n} for {kb}.")));
        }

        return published;
    }

    /// <summary>The history rows of <paramref name="ids"/> written so far (a request may not have one yet).</summary>
    private async Task<List<OperationRecord>> RowsAsync(IReadOnlyList<Guid> ids)
    {
        await using var db = _sandbox.Database.CreateContext();
        return await db.Operations.AsNoTracking().Where(o => ids.Contains(o.Id)).ToListAsync();
    }

    private void AssertEachKbOnceInPublishOrder(Dictionary<string, List<Guid>> published, List<OperationRecord> rows)
    {
        Assert.All(rows, r => Assert.True(r.Status == OperationStatus.Succeeded, $"{r.KbId} {r.Id} {r.Status} {r.ErrorCode}: {r.ErrorMessage}"));
        foreach (var (kb, ids) in published)
        {
            _sandbox.AssertPublishOrder(kb, ids, _remotes[kb], rows);
        }
    }
}

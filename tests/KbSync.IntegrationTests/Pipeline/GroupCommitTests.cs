using System.Text.RegularExpressions;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Producer.Client;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// Group commit: requests waiting for one KB are applied under one lock, one fetch and one push,
/// each with its own commit, trailer, history row and result event. The requests are queued while
/// no worker runs and the remote answers slowly, so that groups really form.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed partial class GroupCommitTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitHttpServer _server = null!;
    private GitRemoteOnDisk _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _server = new GitHttpServer(_sandbox.Folder.Combine("http")) { Latency = TimeSpan.FromMilliseconds(150) };
        _remote = _server.CreateRepository("group-kb");
        await _sandbox.RegisterKbAsync("group-kb", _remote.Url);
        var declaring = await _sandbox.StartWorkerAsync("w0"); // a worker declares the partition queues; requests then wait in them
        await declaring.StopAsync();
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task A_burst_lands_in_publish_order_one_commit_and_one_result_each_in_fewer_pushes_than_notes()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var (ids, watches) = await SubmitAsync(producer, Enumerable.Range(0, 30).Select(n => new NoteContent($"Burst note {n}")));

        await _sandbox.StartWorkerAsync("w1");
        var results = await ResultsAsync(watches);

        Assert.All(results, r => Assert.True(r.Status == OperationStatus.Succeeded, $"{r.ReasonCode}: {r.Message}"));
        var commits = _remote.Open().Commits();
        var landed = commits.Select(c => ids.IndexOf(c.Trailers!.OperationId)).ToList();
        Assert.True(landed.SequenceEqual(Enumerable.Range(0, ids.Count)), $"notes landed in the order {string.Join(',', landed)}; worker log:\n{_sandbox.WorkerOutput()}");
        Assert.Equal(results.Select(r => r.CommitSha), commits.Select(c => c.Sha));
        Assert.True(_server.ReceivePackCount < ids.Count / 3, $"{_server.ReceivePackCount} pushes for {ids.Count} notes: no group commit");
        foreach (var id in ids)
        {
            var row = await _sandbox.WaitForOperationAsync(id);
            Assert.Equal(OperationStatus.Succeeded, row.Status);
            Assert.NotNull(row.PushMs);
        }
    }

    [Fact]
    public async Task A_failing_request_fails_alone_and_the_others_around_it_land_in_order()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var (ids, watches) = await SubmitAsync(producer,
        [
            new NoteContent("Before the bad one"),
            new NoteContent("A bad category", Category: "../escape"),
            new NoteContent("Between"),
            new AgentTaskContent("Edit a file that is not there", Operations: [new FileOperation(FileOps.EditFile, "topics/missing.md", Find: "x", Replace: "y")]),
            new NoteContent("After the failing task"),
            new NoteContent("The last one"),
        ]);

        await _sandbox.StartWorkerAsync("w1");
        var results = await ResultsAsync(watches);

        Assert.Equal(
            [OperationStatus.Succeeded, OperationStatus.Failed, OperationStatus.Succeeded, OperationStatus.Failed, OperationStatus.Succeeded, OperationStatus.Succeeded],
            results.Select(r => r.Status));
        Assert.Equal(ReasonCodes.InvalidRequest, results[1].ReasonCode);
        Assert.Contains("topics/missing.md", results[3].Message);
        Assert.Equal([ids[0], ids[2], ids[4], ids[5]], _remote.Open().Commits().Select(c => c.Trailers!.OperationId));
    }

    [Fact]
    public async Task A_rejected_group_push_is_replayed_whole_on_the_new_head()
    {
        var racer = new ForeignWriter(_remote.Path, _sandbox.Folder.Combine("racer"), name: "racer");
        var pushes = 0;
        _server.BeforeReceivePack = async _ =>
        {
            if (Interlocked.Increment(ref pushes) % 2 == 1)
            {
                await racer.WriteAsync(1, TimeSpan.Zero); // every other push loses a race: each group's first push, then its replay lands
            }
        };
        await using var producer = await _sandbox.StartProducerAsync();
        var (ids, watches) = await SubmitAsync(producer, Enumerable.Range(0, 12).Select(n => new NoteContent($"Replayed note {n}")));

        var worker = await _sandbox.StartWorkerAsync("w1");
        var results = await ResultsAsync(watches);

        Assert.All(results, r => Assert.True(r.Status == OperationStatus.Succeeded, $"{r.ReasonCode}: {r.Message}"));
        var commits = _remote.Open().Commits();
        Assert.Equal(ids, commits.Where(c => c.Trailers is not null).Select(c => c.Trailers!.OperationId));
        Assert.Equal(racer.Pushed.Count, commits.Count(c => c.AuthorName == "racer"));
        Assert.All(commits, c => Assert.Equal(c == commits[0] ? 0 : 1, c.ParentCount)); // replayed, never merged
        var rejected = Rejections().Matches(worker.Output).Select(m => int.Parse(m.Groups[1].Value)).ToList();
        Assert.Equal(racer.Pushed.Count, rejected.Count);
        Assert.Contains(rejected, count => count > 1);
        Assert.Equal(ids.Count, rejected.Sum()); // every group was rejected once and replayed whole
    }

    private static async Task<(List<Guid> Ids, List<ResultWatch> Watches)> SubmitAsync(ProducerHost producer, IEnumerable<object> requests)
    {
        var ids = new List<Guid>();
        var watches = new List<ResultWatch>();
        foreach (var request in requests)
        {
            var id = Guid.NewGuid();
            watches.Add(await producer.Client.WatchAsync(id));
            ids.Add(request switch
            {
                NoteContent note => await producer.Client.SubmitNoteAsync("group-kb", "alice", note, id),
                AgentTaskContent task => await producer.Client.SubmitAgentTaskAsync("group-kb", "alice", task, id),
                _ => throw new ArgumentException(request.GetType().Name),
            });
        }

        return (ids, watches);
    }

    private static async Task<List<OperationResult>> ResultsAsync(List<ResultWatch> watches)
    {
        var results = new List<OperationResult>();
        foreach (var watch in watches)
        {
            results.Add(await watch.ResultAsync(TimeSpan.FromMinutes(2)));
            await watch.DisposeAsync();
        }

        return results;
    }

    [GeneratedRegex(@"push of (\d+) commit\(s\) rejected as non-fast-forward")]
    private static partial Regex Rejections();
}

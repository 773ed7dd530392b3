using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// People push to the KB directly while KbSync writes: KbSync's pushes are then refused as
/// non-fast-forward and replayed on the new head. Nothing is merged, nothing is lost.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class ForeignWritesTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitHttpServer _server = null!;
    private GitRemoteOnDisk _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _server = new GitHttpServer(_sandbox.Folder.Combine("http")) { Latency = TimeSpan.FromMilliseconds(100) };
        _remote = _server.CreateRepository("shared-kb");
        await _sandbox.RegisterKbAsync("shared-kb", _remote.Url);
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__MaxPushAttempts"] = "50" });
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Notes_and_direct_pushes_to_the_same_branch_all_survive_and_races_are_replayed()
    {
        // The person edits index.md; the racer edits the month's index file, which every KbSync note appends to.
        var monthIndex = $"index/{DateTime.UtcNow:yyyy-MM}.md";
        var foreign = new ForeignWriter(_remote.Path, _sandbox.Folder.Combine("person"));
        var racer = new ForeignWriter(_remote.Path, _sandbox.Folder.Combine("racer"), name: "racer", indexFile: monthIndex);
        var races = 0;
        _server.BeforeReceivePack = async _ =>
        {
            if (Interlocked.Increment(ref races) <= 2)
            {
                await racer.WriteAsync(1, TimeSpan.Zero); // lands between KbSync's fetch and its push: a certain race
            }
        };
        await using var producer = await _sandbox.StartProducerAsync();

        var writing = foreign.WriteAsync(count: 15, pause: TimeSpan.FromMilliseconds(30));
        var ids = new List<Guid>();
        for (var n = 0; n < 20; n++)
        {
            ids.Add(await producer.Client.SubmitNoteAsync("shared-kb", "alice", new NoteContent($"KbSync note {n}")));
            await Task.Delay(40);
        }

        await writing;
        var rows = new List<Persistence.Entities.OperationRecord>();
        foreach (var id in ids)
        {
            rows.Add(await _sandbox.WaitForOperationAsync(id, TimeSpan.FromMinutes(2)));
        }

        Assert.All(rows, r => Assert.True(r.Status == OperationStatus.Succeeded, $"{r.ErrorCode}: {r.ErrorMessage}"));
        var commits = _remote.Open().Commits();
        Assert.Equal(15, commits.Count(c => c.AuthorName == "foreign"));
        Assert.Equal(2, commits.Count(c => c.AuthorName == "racer"));
        Assert.Equal(ids, commits.Where(c => c.Trailers is not null).Select(c => c.Trailers!.OperationId));
        Assert.All(commits, c => Assert.Equal(c == commits[0] ? 0 : 1, c.ParentCount)); // linear: nothing was merged
        var index = _remote.Open().ReadFile("index.md")!;
        var month = _remote.Open().ReadFile(monthIndex)!;
        Assert.All(Enumerable.Range(0, 15), n => Assert.Contains($"- foreign line {n}\n", index));
        Assert.All(Enumerable.Range(0, 2), n => Assert.Contains($"- racer line {n}\n", month));
        Assert.All(rows, r => Assert.Contains($"](../{r.NotePath})", month));
        Assert.Contains("replaying on the new head", _sandbox.WorkerOutput());
    }
}

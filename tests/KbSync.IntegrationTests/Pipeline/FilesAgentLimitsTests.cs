using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker.Operations;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// The files agent is bounded by its task's deadline (<c>KbWorker__AgentTimeout</c>): a task of a
/// thousand searches over a KB of thousands of files stops when the deadline passes, is recorded as
/// <c>timed_out</c>, and the partition goes on with the next request.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class FilesAgentLimitsTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const int SeededFiles = 3000;
    private static readonly TimeSpan AgentTimeout = TimeSpan.FromSeconds(4);
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("big-kb");
        await SeedAsync();
        await _sandbox.RegisterKbAsync("big-kb", _remote.Path);
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string>
        {
            ["KbWorker__AgentTimeout"] = AgentTimeout.ToString(),
            ["KbWorker__FilesAgentMaxReadBytes"] = (64L * 1024 * 1024 * 1024).ToString(), // far out of reach: the deadline must stop it
        });
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_thousand_searches_over_a_big_kb_end_timed_out_at_the_deadline_and_the_partition_goes_on()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var searches = Enumerable.Range(0, RequestValidation.MaxOperations)
            .Select(i => new FileOperation(FileOps.SearchContent, Pattern: $"needle {i}"))
            .ToList();

        var task = await producer.Client.SubmitAgentTaskAsync("big-kb", "alice", new AgentTaskContent("search and search", Operations: searches));
        var note = await producer.Client.SubmitNoteAsync("big-kb", "bob", new NoteContent("After the endless search."));

        var timedOut = await _sandbox.WaitForOperationAsync(task, TimeSpan.FromSeconds(60));
        var landed = await _sandbox.WaitForOperationAsync(note, TimeSpan.FromSeconds(30));

        Assert.True(timedOut.Status == OperationStatus.TimedOut, $"{timedOut.Status} {timedOut.ErrorCode}: {timedOut.ErrorMessage}");
        Assert.Equal(ReasonCodes.TimedOut, timedOut.ErrorCode);
        Assert.Contains("KbWorker__AgentTimeout", timedOut.ErrorMessage);
        var ran = timedOut.FinishedAt - timedOut.StartedAt;
        Assert.True(ran < AgentTimeout + TimeSpan.FromSeconds(3), $"the task ran {ran}, its deadline was {AgentTimeout}");
        Assert.Equal(OperationStatus.Succeeded, landed.Status);
        Assert.Equal(2, _remote.Commits().Count); // the seed and the note: the task committed nothing
    }

    /// <summary>One commit of <see cref="SeededFiles"/> files in 30 folders, made with the git command line.</summary>
    private async Task SeedAsync()
    {
        var work = _sandbox.Folder.Combine("seed");
        await GitCli.OutputAsync(null, "clone", "-q", _remote.Path, work);
        await GitCli.OutputAsync(work, "checkout", "-q", "-B", _remote.Branch);
        for (var i = 0; i < SeededFiles; i++)
        {
            var folder = Path.Combine(work, "topics", $"t{i % 30:00}");
            Directory.CreateDirectory(folder);
            await File.WriteAllTextAsync(Path.Combine(folder, $"note-{i:0000}.md"), $"# Note {i}\n\n{string.Concat(Enumerable.Repeat($"Line of note {i} about nothing in particular.\n", 20))}");
        }

        await GitCli.OutputAsync(work, "add", "-A");
        await GitCli.OutputAsync(work, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-q", "-m", "Seed");
        await GitCli.OutputAsync(work, "push", "-q", "origin", $"HEAD:refs/heads/{_remote.Branch}");
    }
}

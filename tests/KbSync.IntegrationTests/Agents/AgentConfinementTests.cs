using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Agents;

/// <summary>
/// A worker finds out once, at start, whether bubblewrap runs here, and says so. Where it cannot (here: a
/// worker whose <c>PATH</c> has no <c>bwrap</c>), external agent tasks fail with a message naming the fix,
/// unless <c>KbWorker__AllowUnconfinedAgents=true</c> lets them run unconfined.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class AgentConfinementTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Kb = "confinement-kb";
    private const string SandboxLine = "External agents run in a bubblewrap sandbox";
    private const string RefusingLine = "external agent tasks will fail with agent_failed";
    private const string UnconfinedLine = "external agents run UNCONFINED";

    private readonly string _secret = $"secret-{Guid.NewGuid():N}";
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private Dictionary<string, string> _environment = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote(Kb);
        await _sandbox.RegisterKbAsync(Kb, _remote.Path);
        var agents = _sandbox.Folder.Combine("agents");
        Directory.CreateDirectory(agents);
        var script = Path.Combine(agents, "where.sh");
        await File.WriteAllTextAsync(script, "mkdir -p topics\n{ echo \"root=$KBSYNC_KB_ROOT\"; env; } > topics/where.md\necho done\n");
        _environment = new Dictionary<string, string>
        {
            ["KBSYNC_TEST_SECRET"] = _secret,
            ["KbWorker__Agents__where__Command"] = "/bin/sh",
            ["KbWorker__Agents__where__Arguments__0"] = script,
            ["KbWorker__Agents__where__ReadOnlyPaths__0"] = agents,
        };
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_worker_with_bubblewrap_says_at_start_that_agents_run_in_the_sandbox()
    {
        var worker = await _sandbox.StartWorkerAsync("w1", _environment);

        await WaitForLineAsync(worker, SandboxLine);
        Assert.DoesNotContain(RefusingLine, worker.Output);
        Assert.DoesNotContain(UnconfinedLine, worker.Output);
    }

    [Fact]
    public async Task A_worker_where_bubblewrap_cannot_run_refuses_external_agents_and_names_the_fix()
    {
        _environment["PATH"] = _sandbox.Folder.Combine("no-bwrap-here");
        Directory.CreateDirectory(_environment["PATH"]);
        var worker = await _sandbox.StartWorkerAsync("w1", _environment);
        await WaitForLineAsync(worker, RefusingLine); // at start, before any task
        await using var producer = await _sandbox.StartProducerAsync();

        foreach (var _ in Enumerable.Range(0, 2))
        {
            var id = await producer.Client.SubmitAgentTaskAsync(Kb, "alice", new AgentTaskContent("Where am I?", "where"));
            var row = await _sandbox.WaitForOperationAsync(id);

            Assert.Equal(ReasonCodes.AgentFailed, row.ErrorCode);
            Assert.Contains("bubblewrap cannot run on this worker (bwrap is not on PATH)", row.ErrorMessage);
            Assert.Contains("apt-get install bubblewrap", row.ErrorMessage);
            Assert.Contains("KbWorker__AllowUnconfinedAgents=true", row.ErrorMessage);
        }

        Assert.Empty(_remote.Commits());
        Assert.Equal(1, Occurrences(worker.Output, RefusingLine));
        Assert.DoesNotContain(SandboxLine, worker.Output);
    }

    [Fact]
    public async Task A_worker_allowed_to_run_agents_unconfined_runs_them_and_says_so()
    {
        _environment["PATH"] = _sandbox.Folder.Combine("no-bwrap-here");
        Directory.CreateDirectory(_environment["PATH"]);
        _environment["KbWorker__AllowUnconfinedAgents"] = "true";
        var worker = await _sandbox.StartWorkerAsync("w1", _environment);
        await WaitForLineAsync(worker, UnconfinedLine);
        await using var producer = await _sandbox.StartProducerAsync();

        var id = await producer.Client.SubmitAgentTaskAsync(Kb, "alice", new AgentTaskContent("Where am I?", "where"));
        var row = await _sandbox.WaitForOperationAsync(id);

        Assert.True(row.Status == OperationStatus.Succeeded, row.ErrorMessage);
        var where = _remote.ReadFile("topics/where.md")!;
        var runFolder = _sandbox.Folder.Combine("workers", "w1", "agent-runs", Kb, id.ToString("N"));
        Assert.Contains($"root={Path.Combine(runFolder, "kb")}\n", where);
        Assert.DoesNotContain(_secret, where); // unconfined or not, the environment is built from nothing
        Assert.Equal(1, Occurrences(worker.Output, UnconfinedLine));
    }

    private static async Task WaitForLineAsync(WorkerProcess worker, string line)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!worker.Output.Contains(line, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"The worker never said \"{line}\":\n{worker.OutputTail()}");
            await Task.Delay(100);
        }
    }

    private static int Occurrences(string text, string line) => text.Split(line).Length - 1;
}

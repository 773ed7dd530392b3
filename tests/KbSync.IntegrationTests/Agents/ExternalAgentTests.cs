using System.Diagnostics;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Agents;

/// <summary>
/// External agents are real programs (shell scripts here, standing in for an LLM coding tool): the
/// well-behaved one's changes are committed; a misbehaving one is refused with the KB and the
/// remote unchanged and the reason in history.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class ExternalAgentTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    /// <summary>Tells this run's sleepers from those of any other test run on the machine.</summary>
    private static readonly string SleepMarker = Random.Shared.Next(10_000, 100_000).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static readonly Dictionary<string, string> Scripts = new()
    {
        ["tidy"] = """
            instruction=$(cat)
            mkdir -p topics/agent
            printf '# Summary\n\n%s\n' "$instruction" > topics/agent/summary.md
            printf 'edited by the agent\n' >> topics/inbox/existing.md
            rm topics/inbox/obsolete.md
            mv topics/inbox/old-name.md topics/inbox/new-name.md
            echo "done: $KBSYNC_INSTRUCTION in $KBSYNC_KB_ID"
            """,
        ["escape"] = "echo sneaky > ../outside.md; echo wrote outside",
        ["gitdir"] = "mkdir -p .git && echo '[core]' > .git/config",
        ["symlink"] = "ln -s /etc/passwd topics/passwd",
        ["slow"] = $"sleep 601.{SleepMarker} & sleep 602.{SleepMarker}; echo never",
        ["chatty"] = "head -c 3000000 /dev/zero | tr '\\0' 'x'; echo; echo kept > topics/chatty.md",
        ["failing"] = "echo 'cannot do that' >&2; exit 3",
        ["topics-only"] = "echo 'changed' > ../index.md",
        ["reader"] = "sleep 1; echo looked",
    };

    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private ProducerHost _producer = null!;
    private string _seedTip = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("agent-kb");
        await SeedAsync();
        await _sandbox.RegisterKbAsync("agent-kb", _remote.Path);
        var environment = new Dictionary<string, string>();
        var agents = _sandbox.Folder.Combine("agents"); // beside the worker's data folder, which the sandbox hides
        Directory.CreateDirectory(agents);
        foreach (var (name, script) in Scripts)
        {
            var path = Path.Combine(agents, $"{name}.sh");
            await File.WriteAllTextAsync(path, "set -e\n" + script + "\n");
            environment[$"KbWorker__Agents__{name}__Command"] = "/bin/sh";
            environment[$"KbWorker__Agents__{name}__Arguments__0"] = path;
            environment[$"KbWorker__Agents__{name}__ReadOnlyPaths__0"] = agents;
        }

        environment["KbWorker__Agents__slow__TimeLimit"] = "00:00:02";
        environment["KbWorker__Agents__topics-only__TopicsOnly"] = "true";
        environment["KbWorker__MaxReadOnlyTasks"] = "1";
        await _sandbox.StartWorkerAsync("w1", environment);
        _producer = await _sandbox.StartProducerAsync();
        _seedTip = _remote.Commits()[^1].Sha;
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    private async Task SeedAsync()
    {
        var files = new Dictionary<string, string>
        {
            ["topics/inbox/existing.md"] = "existing\n",
            ["topics/inbox/obsolete.md"] = "obsolete\n",
            ["topics/inbox/old-name.md"] = "same content after the move\n",
            ["index.md"] = "# Index\n",
        };
        var work = _sandbox.Folder.Combine("seed");
        Directory.CreateDirectory(work);
        await Git(work, "init", "-q", "-b", "main");
        foreach (var (path, content) in files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(work, path))!);
            await File.WriteAllTextAsync(Path.Combine(work, path), content);
        }

        await Git(work, "add", "-A");
        await Git(work, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-q", "-m", "seed");
        await Git(work, "push", "-q", _remote.Path, "main");
    }

    [Fact]
    public async Task Read_only_tasks_run_no_more_at_once_than_the_worker_allows()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await _producer.Client.SubmitAgentTaskAsync("agent-kb", "alice", new AgentTaskContent($"look {i}", "reader", ReadOnly: true)));
        }

        var rows = new List<Persistence.Entities.OperationRecord>();
        foreach (var id in ids)
        {
            rows.Add(await _sandbox.WaitForOperationAsync(id, TimeSpan.FromSeconds(90)));
        }

        Assert.All(rows, row => Assert.Equal(OperationStatus.Succeeded, row.Status));
        var byStart = rows.OrderBy(r => r.StartedAt).ToList();
        for (var i = 1; i < byStart.Count; i++)
        {
            Assert.True(byStart[i].StartedAt >= byStart[i - 1].FinishedAt,
                $"with KbWorker__MaxReadOnlyTasks=1 read-only task {byStart[i].Id} started at {byStart[i].StartedAt:HH:mm:ss.fff}, before {byStart[i - 1].Id} finished at {byStart[i - 1].FinishedAt:HH:mm:ss.fff}");
        }
    }

    private async Task<Persistence.Entities.OperationRecord> RunAsync(string agent, string instruction = "Tidy up the inbox")
    {
        var id = await _producer.Client.SubmitAgentTaskAsync("agent-kb", "alice", new AgentTaskContent(instruction, agent));
        return await _sandbox.WaitForOperationAsync(id, TimeSpan.FromSeconds(90));
    }

    [Fact]
    public async Task A_well_behaved_agent_has_its_changes_committed_and_reported()
    {
        var operationId = Guid.NewGuid();
        await using var watch = await _producer.Client.WatchAsync(operationId);
        await _producer.Client.SubmitAgentTaskAsync("agent-kb", "alice", new AgentTaskContent("Tidy up the inbox; quote 'this' and $HOME literally", "tidy"), operationId);

        var result = await watch.ResultAsync(TimeSpan.FromSeconds(90));

        Assert.True(result.Status == OperationStatus.Succeeded, result.Message);
        var agent = result.Agent!;
        Assert.Equal(["topics/agent/summary.md"], agent.Created);
        Assert.Equal(["topics/inbox/existing.md"], agent.Edited);
        Assert.Equal(["topics/inbox/obsolete.md"], agent.Deleted);
        Assert.Equal([new FileMove("topics/inbox/old-name.md", "topics/inbox/new-name.md")], agent.Moved);
        Assert.Contains("done: Tidy up the inbox; quote 'this' and $HOME literally in agent-kb", agent.Summary);
        Assert.Equal("# Summary\n\nTidy up the inbox; quote 'this' and $HOME literally\n", _remote.ReadFile("topics/agent/summary.md"));
        Assert.Null(_remote.ReadFile("topics/inbox/obsolete.md"));
        var commit = _remote.Commits()[^1];
        Assert.Equal(operationId, commit.Trailers!.OperationId);
        Assert.Equal("alice", commit.AuthorName);
        var row = await _sandbox.WaitForOperationAsync(operationId);
        Assert.Equal(OperationKind.Agent, row.Kind);
        Assert.Contains("topics/agent/summary.md", row.ResultJson);
    }

    [Theory]
    [InlineData("escape", ReasonCodes.AgentRefused, "outside the KB")]
    [InlineData("gitdir", ReasonCodes.AgentRefused, ".git")]
    [InlineData("symlink", ReasonCodes.AgentRefused, "symlink")]
    [InlineData("topics-only", ReasonCodes.AgentRefused, "outside topics/")]
    [InlineData("failing", ReasonCodes.AgentFailed, "exited with code 3")]
    [InlineData("no-such-agent", ReasonCodes.UnknownAgent, "No agent 'no-such-agent'")]
    public async Task A_misbehaving_agent_is_refused_with_the_kb_and_the_remote_unchanged(string agent, string reason, string expected)
    {
        var row = await RunAsync(agent);

        Assert.Equal(OperationStatus.Failed, row.Status);
        Assert.Equal(reason, row.ErrorCode);
        Assert.Contains(expected, row.ErrorMessage);
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
        var runs = _sandbox.Folder.Combine("workers", "w1", "agent-runs", "agent-kb"); // then <operation id>/ per run
        Assert.True(!Directory.Exists(runs) || !Directory.EnumerateFileSystemEntries(runs).Any(), "an agent's run folder was left behind");
    }

    [Fact]
    public async Task An_agent_past_its_time_limit_is_killed_with_its_children()
    {
        var row = await RunAsync("slow");

        Assert.Equal(ReasonCodes.AgentTimedOut, row.ErrorCode);
        Assert.Contains("time limit of 2 s", row.ErrorMessage);
        Assert.True(row.FinishedAt - row.StartedAt < TimeSpan.FromSeconds(30));
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
        var sleepers = Process.GetProcessesByName("sleep").Where(p => CommandLine(p).Contains($".{SleepMarker}")).ToList();
        Assert.Empty(sleepers);
    }

    [Fact]
    public async Task An_agent_printing_megabytes_has_its_output_capped_in_the_summary()
    {
        var row = await RunAsync("chatty");

        Assert.Equal(OperationStatus.Succeeded, row.Status);
        var result = JsonSerializer.Deserialize<AgentResult>(row.ResultJson!, new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
        Assert.True(result.Summary.Length < 70_000, $"summary of {result.Summary.Length} characters");
        Assert.Contains("more characters of output dropped", result.Summary);
        Assert.Equal("kept\n", _remote.ReadFile("topics/chatty.md"));
    }

    private static string CommandLine(Process process)
    {
        try
        {
            return File.ReadAllText($"/proc/{process.Id}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static Task Git(string folder, params string[] args) => GitCli.OutputAsync(folder, args);
}

using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.KnowledgeBases;
using KbSync.Producer.Client;

namespace KbSync.IntegrationTests.Agents;

/// <summary>
/// Hostile external agents (shell scripts) on a real worker, one behaviour per test. Each test checks the
/// task's outcome and reason, that the KB's remote is unchanged where nothing should change, and then that a
/// note to another KB of the same partition succeeds promptly: whatever an agent does, the partition goes on.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class HostileAgentTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Kb = "hostile-kb";

    /// <summary>Long enough for a slow machine; a stalled partition or a worker stuck on a FIFO never gets there.</summary>
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    /// <summary>How soon a finished agent task, and the neighbour's note after it, count as prompt.</summary>
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(15);

    /// <summary>Tells this run's sleepers from those of any other test run on the machine.</summary>
    private static readonly string Marker = Random.Shared.Next(10_000, 100_000).ToString(CultureInfo.InvariantCulture);

    private readonly string _secret = $"secret-{Guid.NewGuid():N}";
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private GitRemote _neighbourRemote = null!;
    private string _neighbour = null!;
    private ProducerHost _producer = null!;
    private string _seedTip = null!;
    private string _dataPath = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _neighbour = NeighbourOf(Kb, _sandbox.Partitions);
        _dataPath = _sandbox.Folder.Combine("workers", "w1");
        _remote = _sandbox.CreateRemote(Kb);
        _neighbourRemote = _sandbox.CreateRemote(_neighbour);
        await SeedAsync();
        await _sandbox.RegisterKbAsync(Kb, _remote.Path);
        await _sandbox.RegisterKbAsync(_neighbour, _neighbourRemote.Path);

        var scripts = new Dictionary<string, string>
        {
            ["env-reader"] = """
                env > topics/env.md
                echo "--- /proc/self/environ"; cat /proc/self/environ; echo
                echo "--- every process"; for f in /proc/[0-9]*/environ; do cat "$f"; echo; done
                env
                """,
            ["data-writer"] = $"""
                for target in '{_dataPath}/kbs/{_neighbour}.git/HEAD' '{_dataPath}/kbs/{_neighbour}.git/config' '{_dataPath}/locks/{_neighbour}.lock' \
                    '{_dataPath}/planted.md' '{_sandbox.Folder.Combine("outside-marker.md")}' \
                    ../../../kbs/{_neighbour}.git/HEAD ../../../../kbs/{_neighbour}.git/HEAD ../../../../planted.md; do
                  mkdir -p "$(dirname "$target")" 2>/dev/null
                  if (echo hostile > "$target") 2>/dev/null; then echo "wrote $target"; else echo "could not write $target"; fi
                done
                ls -la '{_dataPath}' 2>&1
                """,
            ["forker"] = $"""
                (sleep 603.{Marker}; echo late) &
                echo started a child that keeps our output open
                echo kept > topics/forked.md
                """,
            ["deaf"] = $"sleep 604.{Marker}",
            ["fifo"] = "mkfifo topics/pipe.md; echo left a fifo",
            ["sparse"] = "truncate -s 9G topics/huge.md; echo left 9 GB",
            ["nul-printer"] = "printf 'bad\\000output\\n'; exit 1",
            ["lister"] = """
                echo "files: $(find . -type f | sort | tr '\n' ' ')"
                echo added > topics/added.md
                """,
        };
        var agents = _sandbox.Folder.Combine("agents");
        Directory.CreateDirectory(agents);
        var environment = new Dictionary<string, string>
        {
            ["KBSYNC_TEST_SECRET"] = _secret,
            ["SSH_AUTH_SOCK"] = "/tmp/ssh-agent-of-the-worker.sock",
            ["GITHUB_TOKEN_OTHER_KB"] = _secret + "-token",
            ["KbWorker__Agents__env-reader__Environment__AGENT_VISIBLE"] = "from-the-allow-list",
            ["KbWorker__Agents__deaf__TimeLimit"] = "00:00:02",
            ["KbWorker__Agents__sparse__MaxFileBytes"] = "20000000000",
        };
        foreach (var (name, script) in scripts)
        {
            var path = Path.Combine(agents, $"{name}.sh");
            await File.WriteAllTextAsync(path, script + "\n");
            environment[$"KbWorker__Agents__{name}__Command"] = "/bin/sh";
            environment[$"KbWorker__Agents__{name}__Arguments__0"] = path;
            environment[$"KbWorker__Agents__{name}__ReadOnlyPaths__0"] = agents;
        }

        await _sandbox.StartWorkerAsync("w1", environment);
        _producer = await _sandbox.StartProducerAsync();
        _seedTip = _remote.Commits()[^1].Sha;
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_hostile_agent_cannot_read_the_workers_environment()
    {
        var (result, row) = await RunAsync("env-reader");

        Assert.True(result.Status == OperationStatus.Succeeded, result.Message);
        var dumped = _remote.ReadFile("topics/env.md")!;
        foreach (var seen in new[] { dumped, result.Agent?.Summary ?? "", row.ResultJson ?? "", row.ErrorMessage ?? "" })
        {
            Assert.DoesNotContain(_secret, seen);
            Assert.DoesNotContain(_sandbox.Database.ConnectionString, seen);
            Assert.DoesNotContain("ConnectionStrings__KbSync", seen);
            Assert.DoesNotContain("RabbitMq__", seen);
            Assert.DoesNotContain("SSH_AUTH_SOCK", seen);
        }

        // what it could see is there: its allow-list and KbSync's own variables, and nothing else
        Assert.Contains("AGENT_VISIBLE=from-the-allow-list", dumped);
        Assert.Contains($"KBSYNC_KB_ID={Kb}", dumped);
        Assert.Contains("KBSYNC_KB_ROOT=/run/kbsync/kb", dumped);
        Assert.Contains("HOME=/run/kbsync/home", dumped);
        var names = dumped.Split('\n').Where(l => l.Contains('=')).Select(l => l[..l.IndexOf('=')]).ToHashSet();
        string[] allowed = ["PATH", "LANG", "HOME", "TMPDIR", "PWD", "OLDPWD", "SHLVL", "_", "AGENT_VISIBLE", "KBSYNC_INSTRUCTION", "KBSYNC_KB_ID", "KBSYNC_KB_ROOT", "KBSYNC_OPERATION_ID", "KBSYNC_REQUESTED_BY"];
        Assert.Subset(allowed.ToHashSet(), names);
        Assert.Contains("--- every process", result.Agent?.Summary);
        await AssertNeighbourNoteSucceedsPromptlyAsync();
    }

    [Fact]
    public async Task A_hostile_agent_cannot_see_or_change_the_workers_data_folder_or_another_kbs_clone()
    {
        await AssertNeighbourNoteSucceedsPromptlyAsync(); // the neighbour's clone now exists beside this KB's
        var clone = Path.Combine(_dataPath, "kbs", $"{_neighbour}.git");
        var before = Snapshot(clone);

        var (result, _) = await RunAsync("data-writer");

        Assert.True(result.Status == OperationStatus.Succeeded, result.Message);
        Assert.Equal(before, Snapshot(clone));
        Assert.False(File.Exists(Path.Combine(_dataPath, "planted.md")), "the agent planted a file in the worker's data folder");
        Assert.False(File.Exists(_sandbox.Folder.Combine("outside-marker.md")), "the agent wrote to an absolute path outside its run folder");
        Assert.Subset(new HashSet<string> { "kbs", "locks", "agent-runs", LocalRemotePaths.WorkerDataMarker }, Directory.EnumerateFileSystemEntries(_dataPath).Select(e => Path.GetFileName(e)!).ToHashSet());
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
        await AssertNeighbourNoteSucceedsPromptlyAsync();
    }

    [Fact]
    public async Task A_background_child_of_an_agent_dies_with_it_and_does_not_hold_the_task()
    {
        var (result, row) = await RunAsync("forker");

        Assert.True(result.Status == OperationStatus.Succeeded, result.Message);
        Assert.True(row.FinishedAt - row.StartedAt < Prompt, $"the task took {row.FinishedAt - row.StartedAt}");
        Assert.Equal("kept\n", _remote.ReadFile("topics/forked.md"));
        Assert.Empty(Sleepers("603"));
        await AssertNeighbourNoteSucceedsPromptlyAsync();
    }

    [Fact]
    public async Task An_agent_that_never_reads_a_70_KB_instruction_is_killed_at_its_time_limit()
    {
        var instruction = "Read all of this. " + new string('x', 70 * 1024);

        var (result, row) = await RunAsync("deaf", instruction);

        Assert.Equal(ReasonCodes.AgentTimedOut, result.ReasonCode);
        Assert.Contains("time limit of 2 s", result.Message);
        Assert.True(row.FinishedAt - row.StartedAt < Prompt, $"the task took {row.FinishedAt - row.StartedAt}");
        Assert.Empty(Sleepers("604"));
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
        await AssertNeighbourNoteSucceedsPromptlyAsync();
    }

    [Fact]
    public async Task A_fifo_left_by_an_agent_is_refused_without_blocking_the_worker()
    {
        var (result, row) = await RunAsync("fifo");

        Assert.Equal(ReasonCodes.AgentRefused, result.ReasonCode);
        Assert.Contains("FIFO", result.Message);
        Assert.Contains("topics/pipe.md", result.Message);
        Assert.True(row.FinishedAt - row.StartedAt < Prompt, $"the task took {row.FinishedAt - row.StartedAt}");
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
        await AssertNeighbourNoteSucceedsPromptlyAsync();
    }

    [Fact]
    public async Task A_sparse_9_GB_file_is_refused_from_its_size_before_it_is_read()
    {
        var (result, row) = await RunAsync("sparse");

        Assert.Equal(ReasonCodes.AgentRefused, result.ReasonCode);
        Assert.Contains("9663676416 bytes", result.Message);
        Assert.True(row.ProcessMs < 5_000, $"processing took {row.ProcessMs} ms");
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
        await AssertNeighbourNoteSucceedsPromptlyAsync();
    }

    [Fact]
    public async Task A_failing_agent_that_prints_NUL_characters_fails_once_and_the_partition_goes_on()
    {
        var (result, row) = await RunAsync("nul-printer");

        Assert.Equal(ReasonCodes.AgentFailed, result.ReasonCode);
        Assert.Contains("bad\u2400output", result.Message);
        Assert.Equal(1, row.Attempts);
        Assert.Equal(_seedTip, _remote.Commits()[^1].Sha);
        await AssertNeighbourNoteSucceedsPromptlyAsync();
    }

    [Fact]
    public async Task A_file_the_path_guard_refuses_committed_by_someone_else_does_not_stop_an_agent_task()
    {
        await PushForeignFileAsync("topics/odd:name.md", "someone else's file\n");

        var (result, _) = await RunAsync("lister");

        Assert.True(result.Status == OperationStatus.Succeeded, result.Message);
        Assert.Equal(["topics/added.md"], result.Agent!.Created);
        Assert.Empty(result.Agent.Deleted);
        Assert.Empty(result.Agent.Edited);
        Assert.Equal("added\n", _remote.ReadFile("topics/added.md"));
        Assert.Equal("someone else's file\n", _remote.ReadFile("topics/odd:name.md"));
        var listing = result.Agent.Summary.Split('\n').Single(l => l.StartsWith("files: ", StringComparison.Ordinal));
        Assert.Contains("./topics/inbox/existing.md", listing);
        Assert.DoesNotContain("odd", listing);
        Assert.Contains("Not shown to the agent and left unchanged", result.Agent.Summary);
        Assert.Contains("topics/odd:name.md", result.Agent.Summary);
        await AssertNeighbourNoteSucceedsPromptlyAsync();
    }

    private async Task<(OperationResult Result, Persistence.Entities.OperationRecord Row)> RunAsync(string agent, string instruction = "Do your worst")
    {
        var operationId = Guid.NewGuid();
        await using var watch = await _producer.Client.WatchAsync(operationId);
        await _producer.Client.SubmitAgentTaskAsync(Kb, "mallory", new AgentTaskContent(instruction, agent), operationId);
        var result = await watch.ResultAsync(Wait);
        return (result, await _sandbox.WaitForOperationAsync(operationId, Wait));
    }

    /// <summary>A note to a KB of the same partition succeeds, and soon: the agent left nothing that holds the partition.</summary>
    private async Task AssertNeighbourNoteSucceedsPromptlyAsync()
    {
        var started = Stopwatch.StartNew();
        var operationId = Guid.NewGuid();
        await using var watch = await _producer.Client.WatchAsync(operationId);
        await _producer.Client.SubmitNoteAsync(_neighbour, "bob", new NoteContent($"A normal note {operationId}", Title: $"Note {operationId:N}"), operationId);
        var result = await watch.ResultAsync(Wait);

        Assert.True(result.Status == OperationStatus.Succeeded, $"{result.ReasonCode}: {result.Message}");
        Assert.True(started.Elapsed < Prompt, $"the neighbour's note took {started.Elapsed}");
        Assert.Equal(operationId, _neighbourRemote.Commits()[^1].Trailers!.OperationId);
    }

    /// <summary>A KB id other than <paramref name="kb"/> that routes to the same partition.</summary>
    private static string NeighbourOf(string kb, int partitions) =>
        Enumerable.Range(1, 10_000).Select(i => $"neighbour-{i}").First(id => Partitioning.PartitionOf(id, partitions) == Partitioning.PartitionOf(kb, partitions));

    private async Task SeedAsync()
    {
        var work = _sandbox.Folder.Combine("seed");
        Directory.CreateDirectory(Path.Combine(work, "topics", "inbox"));
        await Git(work, "init", "-q", "-b", "main");
        await File.WriteAllTextAsync(Path.Combine(work, "topics", "inbox", "existing.md"), "existing\n");
        await File.WriteAllTextAsync(Path.Combine(work, "index.md"), "# Index\n");
        await Git(work, "add", "-A");
        await Git(work, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-q", "-m", "seed");
        await Git(work, "push", "-q", _remote.Path, "main");
    }

    /// <summary>Someone else commits a file straight to the remote with the git command line.</summary>
    private async Task PushForeignFileAsync(string path, string content)
    {
        var work = _sandbox.Folder.Combine("foreign");
        await Git(null, "clone", "-q", _remote.Path, work);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(work, path))!);
        await File.WriteAllTextAsync(Path.Combine(work, path), content);
        await Git(work, "add", "-A");
        await Git(work, "-c", "user.name=foreign", "-c", "user.email=foreign@example.com", "commit", "-q", "-m", "A file with an odd name");
        await Git(work, "push", "-q", "origin", "HEAD:refs/heads/main");
    }

    /// <summary>Every file under a folder with a hash of its content.</summary>
    private static List<string> Snapshot(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(f => $"{Path.GetRelativePath(folder, f)} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))}")
            .ToList();

    /// <summary>This run's <c>sleep &lt;seconds&gt;.&lt;marker&gt;</c> processes still alive.</summary>
    private static List<int> Sleepers(string seconds) =>
        Process.GetProcessesByName("sleep").Where(p => CommandLine(p).Contains($"{seconds}.{Marker}", StringComparison.Ordinal)).Select(p => p.Id).ToList();

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

    private static Task Git(string? folder, params string[] args) => GitCli.OutputAsync(folder, args);
}

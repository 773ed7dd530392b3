using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// <c>kbsync note</c> and <c>kbsync agent</c> only publish: they run on a producer's machine with no
/// PostgreSQL to reach. The CLI here has <c>ConnectionStrings__KbSync</c> pointing at a closed port,
/// while the worker records everything in the sandbox's real database.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class PublishOnlyCliTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string NoProgress = "(no progress to show: the history database did not answer";

    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private Dictionary<string, string> _noDatabase = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("no-db-notes");
        await _sandbox.RegisterKbAsync("no-db-notes", _remote.Path);
        await _sandbox.StartWorkerAsync("w1");
        _noDatabase = new Dictionary<string, string>(_sandbox.Environment())
        {
            ["ConnectionStrings__KbSync"] = $"Host=127.0.0.1;Port={FreePorts.Loopback()};Database=kbsync;Username=kbsync;Password=kbsync",
        };
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_note_is_published_without_the_database_and_the_worker_commits_it()
    {
        var note = await CliRunner.RunAsync(_noDatabase, "note", "no-db-notes", "--user", "alice", "--title", "No database here", "Published from a producer's machine.");

        Assert.True(note.ExitCode == 0, note.ToString());
        var operationId = Guid.Parse(note.Output.Trim());
        Assert.Equal("succeeded", (await _sandbox.WaitForOperationAsync(operationId)).Status.ToString().ToLowerInvariant());
        Assert.EndsWith("-no-database-here.md", Assert.Single(_remote.Files(), f => f.StartsWith("topics/", StringComparison.Ordinal)));
        Assert.DoesNotContain("database", note.Error); // not even tried: without --wait nothing reads the history
    }

    [Fact]
    public async Task A_note_with_wait_gets_its_result_from_the_broker_while_the_history_cannot_be_read()
    {
        var note = await CliRunner.RunAsync(_noDatabase, "note", "no-db-notes", "--user", "bob", "--title", "Waited for", "--wait", "The result comes over AMQP.");

        Assert.True(note.ExitCode == 0, note.ToString());
        Assert.Matches(@"^succeeded: topics/inbox/\d{4}-\d\d-\d\d-waited-for\.md in commit [0-9a-f]{12}", note.Output);
        Assert.Single(_remote.Commits());
        // the progress poll fails (said once, if that happens before the result comes) and the wait goes on
        Assert.InRange(note.Error.Split('\n').Count(line => line.StartsWith(NoProgress, StringComparison.Ordinal)), 0, 1);
        Assert.DoesNotContain("error", note.Error, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("exception", note.Error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_agent_task_with_wait_runs_without_the_database()
    {
        var ops = _sandbox.Folder.Combine("ops.json");
        await File.WriteAllTextAsync(ops, """[{ "op": "create_file", "path": "topics/howto/offline.md", "content": "# Offline\n" }]""");
        var search = _sandbox.Folder.Combine("search.json");
        await File.WriteAllTextAsync(search, """[{ "op": "search_files", "pattern": "*.md" }]""");

        var agent = await CliRunner.RunAsync(_noDatabase, "agent", "no-db-notes", "--user", "alice", "--ops", ops, "--wait", "Write the offline how-to");
        var queued = await CliRunner.RunAsync(_noDatabase, "agent", "no-db-notes", "--user", "alice", "--ops", search, "--read-only", "Publish only");

        Assert.True(agent.ExitCode == 0, agent.ToString());
        Assert.Contains("succeeded: commit", agent.Output);
        Assert.Contains("created: topics/howto/offline.md", agent.Output);
        Assert.DoesNotContain("exception", agent.Error, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("# Offline\n", _remote.ReadFile("topics/howto/offline.md"));
        Assert.True(queued.ExitCode == 0, queued.ToString());
        Assert.Equal("succeeded", (await _sandbox.WaitForOperationAsync(Guid.Parse(queued.Output.Trim()))).Status.ToString().ToLowerInvariant());
        Assert.DoesNotContain("database", queued.Error);
    }

    [Fact]
    public async Task The_commands_that_read_the_database_still_need_it()
    {
        var history = await CliRunner.RunAsync(_noDatabase, "history", "--kb", "no-db-notes");
        var status = await CliRunner.RunAsync(_noDatabase, "status", Guid.NewGuid().ToString());

        foreach (var refused in new[] { history, status })
        {
            Assert.True(refused.ExitCode == 1, refused.ToString());
            Assert.StartsWith("error: the history database did not answer", refused.Error);
        }
    }
}

using System.Text.Json;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>The kbsync CLI as a user runs it: a real process against real services and a worker.</summary>
[Collection(ServicesCollection.Name)]
public sealed class CliTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("cli-notes");
        await _sandbox.StartWorkerAsync("w1");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    private Task<CliResult> Kbsync(params string[] args) => CliRunner.RunAsync(_sandbox.Environment(), args);

    [Fact]
    public async Task A_user_registers_a_kb_adds_a_note_with_wait_and_reads_it_back_in_history_and_status()
    {
        var added = await Kbsync("kb", "add", "cli-notes", "--remote", _remote.Path);
        Assert.True(added.ExitCode == 0, added.ToString());
        var listed = await Kbsync("kb", "list");
        Assert.Contains("cli-notes", listed.Output);

        var note = await Kbsync("note", "cli-notes", "--user", "alice", "--title", "From the CLI", "--tags", "cli,test", "--wait", "Hello from a terminal.");

        Assert.True(note.ExitCode == 0, note.ToString());
        Assert.Matches(@"^succeeded: topics/inbox/\d{4}-\d\d-\d\d-from-the-cli\.md in commit [0-9a-f]{12}", note.Output);
        Assert.Single(_remote.Commits());

        var history = await Kbsync("history", "--kb", "cli-notes", "--json");
        Assert.True(history.ExitCode == 0, history.ToString());
        var row = Assert.Single(JsonDocument.Parse(history.Output).RootElement.EnumerateArray());
        Assert.Equal("succeeded", row.GetProperty("status").GetString());
        var operationId = row.GetProperty("id").GetString()!;

        var status = await Kbsync("status", operationId);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("succeeded", status.Output);
        Assert.Contains("alice", status.Output);
        Assert.Contains(_remote.Commits()[0].Sha, status.Output);
    }

    [Fact]
    public async Task A_note_text_of_dash_is_read_from_standard_input()
    {
        await _sandbox.RegisterKbAsync("cli-notes", _remote.Path);

        var note = await CliRunner.RunWithInputAsync(_sandbox.Environment(), "# Piped in\n\nFrom a pipe.\n", "note", "cli-notes", "--user", "carol", "--wait", "-");

        Assert.True(note.ExitCode == 0, note.ToString());
        var path = note.Output.Split(' ')[1];
        Assert.EndsWith("-piped-in.md", path);
        Assert.Contains("# Piped in\n\nFrom a pipe.\n", _remote.ReadFile(path));
    }

    [Fact]
    public async Task An_agent_task_with_wait_prints_its_summary_and_changed_files_and_status_shows_them_later()
    {
        await _sandbox.RegisterKbAsync("cli-notes", _remote.Path);
        var ops = _sandbox.Folder.Combine("ops.json");
        await File.WriteAllTextAsync(ops, """
            [
              { "op": "create_file", "path": "topics/howto/deploy.md", "content": "# Deploy\n" },
              { "op": "search_files", "pattern": "*.md" }
            ]
            """);

        var agent = await Kbsync("agent", "cli-notes", "--user", "alice", "--ops", ops, "--wait", "Write the deploy how-to");

        Assert.True(agent.ExitCode == 0, agent.ToString());
        Assert.Contains("succeeded: commit", agent.Output);
        Assert.Contains("created: topics/howto/deploy.md", agent.Output);
        Assert.Contains("--- 2. search_files ---\ntopics/howto/deploy.md", agent.Output);
        var id = System.Text.Json.JsonDocument.Parse((await Kbsync("history", "--json")).Output).RootElement[0].GetProperty("id").GetString()!;
        var status = await Kbsync("status", id);
        Assert.Contains("created: topics/howto/deploy.md", status.Output);
        Assert.Contains("agent", status.Output);

        var bad = await Kbsync("agent", "cli-notes", "--user", "alice", "--ops", _sandbox.Folder.Combine("missing.json"), "x");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--ops: there is no file", bad.Error);
    }

    [Fact]
    public async Task Waiting_on_a_note_for_an_unknown_kb_prints_the_reason_and_exits_with_1()
    {
        var note = await Kbsync("note", "not-registered", "--user", "bob", "--wait", "Where does this go?");

        Assert.True(note.ExitCode == 1, note.ToString());
        Assert.Contains("failed: unknown_kb: No KB 'not-registered' is registered", note.Output);
    }

    [Fact]
    public async Task Bad_input_gets_a_clear_error_and_exit_code_2()
    {
        var badId = await Kbsync("note", "Team_Notes", "--user", "bob", "text");
        Assert.Equal(2, badId.ExitCode);
        Assert.Contains("'Team_Notes' is not a valid KB id", badId.Error);

        var token = await Kbsync("kb", "add", "secret-kb", "--remote", "https://bob:s3cret@example.com/kb.git");
        Assert.Equal(2, token.ExitCode);
        Assert.Contains("must not carry credentials", token.Error);
        Assert.DoesNotContain("s3cret", token.Error + token.Output);

        var status = await Kbsync("history", "--status", "finished");
        Assert.Equal(2, status.ExitCode);
        Assert.Contains("not a status", status.Error);
    }

    [Fact]
    public async Task Status_of_an_unknown_operation_says_so_with_exit_code_3()
    {
        var status = await Kbsync("status", Guid.NewGuid().ToString());

        Assert.Equal(3, status.ExitCode);
        Assert.Contains("No operation", status.Error);
    }
}

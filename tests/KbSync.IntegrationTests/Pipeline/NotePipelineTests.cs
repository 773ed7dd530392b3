using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using Microsoft.EntityFrameworkCore;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>One worker process, real RabbitMQ, PostgreSQL and a bare repository as the remote.</summary>
[Collection(ServicesCollection.Name)]
public sealed class NotePipelineTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("team-notes");
        await _sandbox.RegisterKbAsync("team-notes", _remote.Path);
        await _sandbox.StartWorkerAsync("w1");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_note_is_committed_pushed_and_recorded_with_its_timings()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var operationId = Guid.NewGuid();
        await using var watch = await producer.Client.WatchAsync(operationId);
        await producer.Client.SubmitNoteAsync("team-notes", "alice", new NoteContent("RabbitMQ keeps order per queue.", "Ordering in RabbitMQ", "tech/messaging", ["rabbitmq", "ordering"]), operationId);

        var result = await watch.ResultAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(OperationStatus.Succeeded, result.Status);
        var today = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd");
        var path = $"topics/tech/messaging/{today}-ordering-in-rabbitmq.md";
        Assert.Equal(path, result.NotePath);

        var commit = Assert.Single(_remote.Commits());
        Assert.Equal(result.CommitSha, commit.Sha);
        Assert.Equal("alice", commit.AuthorName);
        Assert.Equal(operationId, commit.Trailers?.OperationId);

        var note = _remote.ReadFile(path)!;
        Assert.StartsWith("---\ntitle: \"Ordering in RabbitMQ\"\ncategory: tech/messaging\ntags: [\"rabbitmq\", \"ordering\"]\ncreated_at: ", note);
        Assert.Contains("author: \"alice\"\n", note);
        Assert.Contains($"operation_id: {operationId}\n---\n\nRabbitMQ keeps order per queue.\n", note);
        var month = today[..7];
        Assert.Equal($"# Notes of {month}\n\n- [Ordering in RabbitMQ](../{path}) - {today} - `tech/messaging`\n", _remote.ReadFile($"index/{month}.md"));
        Assert.Equal($"# Index\n\n- [{month}](index/{month}.md)\n", _remote.ReadFile("index.md"));

        var row = await _sandbox.WaitForOperationAsync(operationId);
        Assert.Equal(OperationStatus.Succeeded, row.Status);
        Assert.Equal(commit.Sha, row.CommitSha);
        Assert.Equal(path, row.NotePath);
        Assert.Equal("w1", row.WorkerId);
        Assert.All(new[] { row.QueueWaitMs, row.LockWaitMs, row.PullMs, row.ProcessMs, row.CommitMs, row.PushMs }, ms => Assert.True(ms >= 0));
        Assert.True(row.PullMs > 0 && row.PushMs > 0 && row.CommitMs > 0);
        Assert.True(row.StartedAt >= row.RequestedAt && row.FinishedAt >= row.StartedAt);
    }

    [Fact]
    public async Task The_same_text_twice_is_saved_once_and_recorded_as_duplicate()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var first = await producer.Client.SubmitNoteAsync("team-notes", "alice", new NoteContent("Same words.\r\n"));
        var second = await producer.Client.SubmitNoteAsync("team-notes", "bob", new NoteContent("Same words."));

        Assert.Equal(OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(first)).Status);
        var duplicate = await _sandbox.WaitForOperationAsync(second);
        Assert.Equal(OperationStatus.Duplicate, duplicate.Status);
        Assert.Null(duplicate.CommitSha);
        Assert.Single(_remote.Commits());
    }

    [Fact]
    public async Task Notes_with_the_same_title_on_one_day_get_numbered_paths()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var ids = new List<Guid>();
        foreach (var text in new[] { "one", "two", "three" })
        {
            ids.Add(await producer.Client.SubmitNoteAsync("team-notes", "alice", new NoteContent(text, "Daily standup")));
        }

        var today = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd");
        var paths = new List<string?>();
        foreach (var id in ids)
        {
            paths.Add((await _sandbox.WaitForOperationAsync(id)).NotePath);
        }

        Assert.Equal([$"topics/inbox/{today}-daily-standup.md", $"topics/inbox/{today}-daily-standup-2.md", $"topics/inbox/{today}-daily-standup-3.md"], paths);
        Assert.Equal(4, _remote.ReadFile($"index/{today[..7]}.md")!.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task An_index_md_kept_by_people_is_left_as_it_is_and_gets_one_link_per_month()
    {
        await new ForeignWriter(_remote.Path, _sandbox.Folder.Combine("person")).WriteAsync(2, TimeSpan.Zero);
        await using var producer = await _sandbox.StartProducerAsync();
        var first = await producer.Client.SubmitNoteAsync("team-notes", "alice", new NoteContent("First of the month."));
        var second = await producer.Client.SubmitNoteAsync("team-notes", "alice", new NoteContent("Second of the month."));

        var rows = new[] { await _sandbox.WaitForOperationAsync(first), await _sandbox.WaitForOperationAsync(second) };

        Assert.All(rows, r => Assert.Equal(OperationStatus.Succeeded, r.Status));
        var month = rows[0].RequestedAt.UtcDateTime.ToString("yyyy-MM");
        Assert.Equal($"- foreign line 0\n- foreign line 1\n- [{month}](index/{month}.md)\n", _remote.ReadFile("index.md"));
        var monthIndex = _remote.ReadFile($"index/{month}.md")!;
        Assert.All(rows, r => Assert.Contains($"](../{r.NotePath})", monthIndex));
    }

    [Fact]
    public async Task Republishing_an_operation_id_makes_no_second_commit_even_when_history_lost_it()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var operationId = await producer.Client.SubmitNoteAsync("team-notes", "alice", new NoteContent("Exactly once."));
        var first = await _sandbox.WaitForOperationAsync(operationId);

        // Same id again: the history row says it is done.
        await using (var watch = await producer.Client.WatchAsync(operationId))
        {
            await producer.Client.SubmitNoteAsync("team-notes", "alice", new NoteContent("Exactly once."), operationId);
            var again = await watch.ResultAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(OperationStatus.Succeeded, again.Status);
            Assert.Equal(first.CommitSha, again.CommitSha);
        }

        // Same id after the row is gone (a crash between push and history): the trailer on the remote says it is done.
        await using (var db = _sandbox.Database.CreateContext())
        {
            await db.Operations.Where(o => o.Id == operationId).ExecuteDeleteAsync();
        }

        await producer.Client.SubmitNoteAsync("team-notes", "alice", new NoteContent("Exactly once, with different text so the duplicate check cannot be what stops it."), operationId);
        var recovered = await _sandbox.WaitForOperationAsync(operationId);

        Assert.Equal(OperationStatus.Succeeded, recovered.Status);
        Assert.Equal(first.CommitSha, recovered.CommitSha);
        Assert.Equal(first.NotePath, recovered.NotePath);
        Assert.Single(_remote.Commits());
    }

    [Fact]
    public async Task A_kb_without_a_remote_commits_in_the_worker_clone()
    {
        await _sandbox.RegisterKbAsync("local-only", remote: null);
        await using var producer = await _sandbox.StartProducerAsync();
        var operationId = await producer.Client.SubmitNoteAsync("local-only", "alice", new NoteContent("Kept locally."));

        var row = await _sandbox.WaitForOperationAsync(operationId);

        Assert.Equal(OperationStatus.Succeeded, row.Status);
        Assert.NotNull(row.CommitSha);
        using var clone = new LibGit2Sharp.Repository(_sandbox.Folder.Combine("workers", "w1", "kbs", "local-only.git"));
        Assert.Equal(row.CommitSha, clone.Branches["main"].Tip.Sha);
    }
}

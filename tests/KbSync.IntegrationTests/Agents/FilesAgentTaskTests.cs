using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Producer.Client;

namespace KbSync.IntegrationTests.Agents;

/// <summary>Agent tasks of the built-in files agent as KB operations: ordered with notes, pulled first, all or nothing, reads beside writes.</summary>
[Collection(ServicesCollection.Name)]
public sealed class FilesAgentTaskTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private string _dataPath = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("ops-kb");
        await _sandbox.RegisterKbAsync("ops-kb", _remote.Path);
        _dataPath = _sandbox.Folder.Combine("data");
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__DataPath"] = _dataPath });
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    private static AgentTaskContent Files(string instruction, params FileOperation[] operations) => new(instruction, Operations: operations);

    [Fact]
    public async Task Two_producers_interleaving_notes_and_agent_tasks_on_one_kb_get_exactly_their_publish_order()
    {
        var producers = new[] { await _sandbox.StartProducerAsync(), await _sandbox.StartProducerAsync() };
        var gate = new SemaphoreSlim(1, 1);
        var published = new List<Guid>();
        var next = -1;

        async Task Produce(KbSyncClient client, int producer)
        {
            int n;
            while ((n = Interlocked.Increment(ref next)) < 30)
            {
                await gate.WaitAsync();
                try
                {
                    published.Add(n % 3 == 0
                        ? await client.SubmitAgentTaskAsync("ops-kb", $"user-{producer}", Files($"task {n}", new FileOperation(FileOps.CreateFile, $"topics/tasks/{n}.md", Content: $"task {n}\n")))
                        : await client.SubmitNoteAsync("ops-kb", $"user-{producer}", new NoteContent($"note {n} from producer {producer}")));
                }
                finally
                {
                    gate.Release();
                }
            }
        }

        await Task.WhenAll(producers.Select((p, i) => Produce(p.Client, i)));
        var rows = await _sandbox.WaitForFinalAsync(30, TimeSpan.FromMinutes(2));

        Assert.All(rows, r => Assert.True(r.Status == OperationStatus.Succeeded, $"{r.Kind} {r.ErrorCode}: {r.ErrorMessage}"));
        Assert.Equal(10, rows.Count(r => r.Kind == OperationKind.Agent));
        Assert.Equal(published, _remote.Commits().Select(c => c.Trailers!.OperationId));
    }

    [Fact]
    public async Task A_task_whose_third_operation_fails_commits_nothing_and_names_the_operation()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var id = Guid.NewGuid();
        await using var watch = await producer.Client.WatchAsync(id);

        await producer.Client.SubmitAgentTaskAsync("ops-kb", "alice", Files("three steps",
            new FileOperation(FileOps.CreateFile, "topics/a.md", Content: "a"),
            new FileOperation(FileOps.CreateFile, "topics/b.md", Content: "b"),
            new FileOperation(FileOps.EditFile, "topics/missing.md", Find: "x", Replace: "y")), id);
        var result = await watch.ResultAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(OperationStatus.Failed, result.Status);
        Assert.Equal(ReasonCodes.AgentFailed, result.ReasonCode);
        Assert.Contains("Operation 3 (edit_file)", result.Message);
        Assert.Contains("topics/missing.md", result.Message);
        Assert.Empty(_remote.Commits());
    }

    [Theory]
    [InlineData("../outside.md")]
    [InlineData("/etc/passwd")]
    [InlineData(".git/hooks/pre-commit")]
    [InlineData("topics/../../escape.md")]
    public async Task A_hostile_path_is_refused_and_nothing_is_committed(string path)
    {
        await using var producer = await _sandbox.StartProducerAsync();

        var row = await _sandbox.WaitForOperationAsync(await producer.Client.SubmitAgentTaskAsync("ops-kb", "mallory", Files("hostile",
            new FileOperation(FileOps.CreateFile, "topics/fine.md", Content: "fine"),
            new FileOperation(FileOps.CreateFile, path, Content: "#!/bin/sh\necho pwned\n"))));

        Assert.Equal(ReasonCodes.AgentFailed, row.ErrorCode);
        Assert.Contains("Operation 2 (create_file)", row.ErrorMessage);
        Assert.Empty(_remote.Commits());
        Assert.False(File.Exists(Path.Combine(_sandbox.Folder.Path, "outside.md")));
    }

    [Fact]
    public async Task An_agent_task_starts_from_the_remote_head_and_a_stale_edit_fails_clearly()
    {
        await new ForeignWriter(_remote.Path, _sandbox.Folder.Combine("person")).WriteAsync(1, TimeSpan.Zero);
        await using var producer = await _sandbox.StartProducerAsync();

        var readId = Guid.NewGuid();
        await using (var watch = await producer.Client.WatchAsync(readId))
        {
            await producer.Client.SubmitAgentTaskAsync("ops-kb", "alice", Files("read it", new FileOperation(FileOps.ReadFile, "foreign/0.md")) with { ReadOnly = true }, readId);
            var result = await watch.ResultAsync(TimeSpan.FromSeconds(60));
            var output = Assert.Single(result.Agent!.Outputs);
            Assert.Equal("Foreign note 0\n", output.Output);
            Assert.Null(result.CommitSha);

            var edit = await _sandbox.WaitForOperationAsync(await producer.Client.SubmitAgentTaskAsync("ops-kb", "alice", Files("edit it",
                new FileOperation(FileOps.EditFile, "foreign/0.md", Mode: FileOps.ModeAppend, Content: "appended\n", ExpectedHash: output.Sha256))));
            Assert.Equal(OperationStatus.Succeeded, edit.Status);

            var stale = await _sandbox.WaitForOperationAsync(await producer.Client.SubmitAgentTaskAsync("ops-kb", "bob", Files("edit again",
                new FileOperation(FileOps.EditFile, "foreign/0.md", Mode: FileOps.ModeSet, Content: "overwritten\n", ExpectedHash: output.Sha256))));
            Assert.Equal(ReasonCodes.AgentFailed, stale.ErrorCode);
            Assert.Contains("changed since it was read", stale.ErrorMessage);
        }

        Assert.Equal("Foreign note 0\nappended\n", _remote.ReadFile("foreign/0.md"));
    }

    [Fact]
    public async Task A_read_only_task_completes_while_a_slow_write_holds_the_lock()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("ops-kb", "alice", new NoteContent("Before the slow write.")));
        using var holder = await LockHolder.HoldAsync(Path.Combine(_dataPath, "locks", "ops-kb.lock"));

        var write = await producer.Client.SubmitNoteAsync("ops-kb", "alice", new NoteContent("A write stuck behind the lock."));
        var stuckBy = DateTime.UtcNow.AddSeconds(30);
        while ((await _sandbox.FindOperationAsync(write))?.Status != OperationStatus.Running && DateTime.UtcNow < stuckBy)
        {
            await Task.Delay(50); // the write has started and waits for the lock before the read is sent
        }

        var readId = Guid.NewGuid();
        await using var watch = await producer.Client.WatchAsync(readId);
        await producer.Client.SubmitAgentTaskAsync("ops-kb", "bob", Files("what is there?", new FileOperation(FileOps.ListDirectory, "topics/inbox")) with { ReadOnly = true }, readId);
        var read = await watch.ResultAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(OperationStatus.Succeeded, read.Status);
        Assert.Contains("-before-the-slow-write.md", Assert.Single(read.Agent!.Outputs).Output);
        Assert.Equal(OperationStatus.Running, (await _sandbox.FindOperationAsync(write))!.Status);
        holder.Kill();
        Assert.Equal(OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(write)).Status);
        Assert.Equal(2, _remote.Commits().Count);
    }
}

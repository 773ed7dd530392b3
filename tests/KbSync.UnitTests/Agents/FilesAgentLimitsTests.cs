using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Git;

namespace KbSync.UnitTests.Agents;

/// <summary>A files task is bounded: by its deadline (between operations and per file), by the bytes it reads, and by the size of its outputs together.</summary>
public sealed class FilesAgentLimitsTests
{
    private static InMemoryKbClone ManyFiles(int count, int bytesEach = 20)
    {
        var clone = new InMemoryKbClone();
        for (var i = 0; i < count; i++)
        {
            clone.WithFile($"topics/t{i % 10}/note-{i:0000}.md", new string('x', bytesEach - 1) + "\n");
        }

        return clone;
    }

    private static FileOperation Search(string pattern = "needle") => new(FileOps.SearchContent, Pattern: pattern);

    [Fact]
    public void The_default_limits_are_256_MB_read_and_4_MB_of_output_and_the_options_start_from_them()
    {
        var options = new KbWorkerOptions();

        Assert.Equal(256L * 1024 * 1024, options.FilesAgentMaxReadBytes);
        Assert.Equal(4L * 1024 * 1024, options.MaxResultBytes);
        Assert.Equal(new FilesAgentLimits(options.FilesAgentMaxReadBytes, options.MaxResultBytes), FilesAgentLimits.Default);
    }

    [Fact]
    public void A_task_past_its_deadline_stops_before_its_next_operation_and_commits_nothing()
    {
        var clone = AgentRun.SampleKb();
        using var deadline = new CancellationTokenSource();
        var reads = new ReadCountingClone(clone, onRead: n => deadline.Cancel());
        var workspace = new KbWorkspace(reads);

        Assert.ThrowsAny<OperationCanceledException>(() => FilesAgent.Run(workspace, [
            new FileOperation(FileOps.ReadFile, "README.md"),
            new FileOperation(FileOps.CreateFile, "topics/new.md", Content: "new"),
        ], readOnly: false, cancellationToken: deadline.Token));

        Assert.Equal(1, reads.Reads);
        Assert.Empty(workspace.Changes());
    }

    [Fact]
    public void A_search_stops_inside_its_files_when_the_deadline_passes()
    {
        using var deadline = new CancellationTokenSource();
        var reads = new ReadCountingClone(ManyFiles(1000), onRead: n =>
        {
            if (n == 10)
            {
                deadline.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() => FilesAgent.Run(new KbWorkspace(reads), [Search()], readOnly: true, cancellationToken: deadline.Token));

        Assert.Equal(10, reads.Reads);
    }

    [Fact]
    public void A_thousand_searches_end_at_the_deadline_not_after_the_last_search()
    {
        using var deadline = new CancellationTokenSource();
        var reads = new ReadCountingClone(ManyFiles(300), onRead: n =>
        {
            if (n == 1000)
            {
                deadline.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() => FilesAgent.Run(new KbWorkspace(reads), Enumerable.Repeat(Search(), 1000).ToList(), readOnly: true, cancellationToken: deadline.Token));

        Assert.Equal(1000, reads.Reads); // 3 searches and a third: not the 300,000 reads of all of them
    }

    [Fact]
    public void Reading_past_the_cap_fails_the_task_with_agent_failed_naming_the_cap_and_the_operation()
    {
        var clone = ManyFiles(100);

        var failure = Assert.Throws<AgentFailure>(() => FilesAgent.Run(new KbWorkspace(clone), [
            new FileOperation(FileOps.ReadFile, "topics/t0/note-0000.md"),
            Search(),
            new FileOperation(FileOps.CreateFile, "topics/new.md", Content: "new"),
        ], readOnly: false, new FilesAgentLimits(MaxReadBytes: 1000, MaxResultBytes: 1000)));

        Assert.Equal(ReasonCodes.AgentFailed, failure.ReasonCode);
        Assert.Equal("Operation 2 (search_content) failed: the task has read more than 1000 bytes of the KB (KbWorker__FilesAgentMaxReadBytes); read or search less (one folder, fewer operations). Nothing was committed.", failure.Message);
    }

    [Fact]
    public void Reads_of_every_kind_count_toward_the_cap()
    {
        var clone = ManyFiles(10, bytesEach: 100);

        var failure = Assert.Throws<AgentFailure>(() => FilesAgent.Run(new KbWorkspace(clone), [
            new FileOperation(FileOps.EditFile, "topics/t0/note-0000.md", Mode: FileOps.ModeAppend, Content: "more"),
            new FileOperation(FileOps.MoveFolder, "topics/t1", To: "archive/t1"),
            new FileOperation(FileOps.MoveFile, "topics/t2/note-0002.md", To: "archive/note-0002.md"),
        ], readOnly: false, new FilesAgentLimits(MaxReadBytes: 250, MaxResultBytes: 1000)));

        Assert.StartsWith("Operation 3 (move_file) failed: the task has read more than 250 bytes", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Files_too_large_to_search_are_passed_over_without_being_read()
    {
        var clone = ManyFiles(10).WithBytes("topics/huge.bin", new byte[FilesAgent.MaxSearchedFileBytes + 1]);
        var reads = new ReadCountingClone(clone);

        var result = FilesAgent.Run(new KbWorkspace(reads), [Search("x")], readOnly: true, new FilesAgentLimits(MaxReadBytes: 1000, MaxResultBytes: 100_000));

        Assert.Equal(10, reads.Reads);
        Assert.Equal(10, Assert.Single(result.Outputs).Output.Split('\n').Length);
    }

    [Fact]
    public void Outputs_are_cut_where_the_task_total_reaches_the_cap_with_a_marker()
    {
        var clone = new InMemoryKbClone().WithFile("a.md", new string('a', 30)).WithFile("b.md", new string('b', 30)).WithFile("c.md", new string('c', 30));
        const string marker = "… (cut: this task's outputs reached 50 bytes, KbWorker__MaxResultBytes)";

        var result = FilesAgent.Run(new KbWorkspace(clone), [
            new FileOperation(FileOps.ReadFile, "a.md"),
            new FileOperation(FileOps.ReadFile, "b.md"),
            new FileOperation(FileOps.ReadFile, "c.md"),
        ], readOnly: true, new FilesAgentLimits(MaxReadBytes: 1000, MaxResultBytes: 50));

        Assert.Equal([new string('a', 30), new string('b', 20) + "\n" + marker, marker], result.Outputs.Select(o => o.Output));
        Assert.Equal([1, 2, 3], result.Outputs.Select(o => o.Index));
        Assert.Equal(AgentRun.Sha256(new string('c', 30)), result.Outputs[2].Sha256); // the hash still lets an edit go ahead
    }

    [Fact]
    public void A_cut_never_splits_a_character()
    {
        var clone = new InMemoryKbClone().WithFile("a.md", "é€😀é€😀");

        var result = FilesAgent.Run(new KbWorkspace(clone), [new FileOperation(FileOps.ReadFile, "a.md")], readOnly: true, new FilesAgentLimits(MaxReadBytes: 1000, MaxResultBytes: 8));

        var output = Assert.Single(result.Outputs).Output;
        Assert.StartsWith("é€\n… (cut:", output, StringComparison.Ordinal); // 2 + 3 bytes: the emoji's 4 would pass 8
    }

    /// <summary>An <see cref="IKbClone"/> that counts the files read and calls back after each, to stand in for time passing.</summary>
    private sealed class ReadCountingClone(InMemoryKbClone inner, Action<int>? onRead = null) : IKbClone
    {
        public int Reads { get; private set; }

        public byte[]? ReadBytes(string path)
        {
            var content = inner.ReadBytes(path);
            Reads++;
            onRead?.Invoke(Reads);
            return content;
        }

        public string? Tip => inner.Tip;

        public bool HasRemote => inner.HasRemote;

        public Task SyncAsync(bool fetch, CancellationToken cancellationToken) => inner.SyncAsync(fetch, cancellationToken);

        public CommitTrailers? FindOperation(Guid operationId) => inner.FindOperation(operationId);

        public bool ContainsContent(string contentHash) => inner.ContainsContent(contentHash);

        public KbEntry? Entry(string path) => inner.Entry(path);

        public IEnumerable<KbEntry> Files(string? folder = null) => inner.Files(folder);

        public bool FileExists(string path) => inner.FileExists(path);

        public string? ReadText(string path) => ReadBytes(path) is { } bytes ? Encoding.UTF8.GetString(bytes) : null;

        public string Commit(IReadOnlyList<TreeChange> changes, CommitAuthor author, string message, CommitAuthor? committer = null) => inner.Commit(changes, author, message, committer);

        public Task<PushOutcome> PushAsync(CancellationToken cancellationToken) => inner.PushAsync(cancellationToken);

        public void Dispose() => inner.Dispose();
    }
}

using System.Security.Cryptography;
using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Git;

namespace KbSync.UnitTests.Agents;

/// <summary>Runs <c>files</c> agent tasks the way the worker does: commit the workspace's changes only on success.</summary>
internal static class AgentRun
{
    private static readonly CommitAuthor Author = new("Test", "test@example.com", DateTimeOffset.UnixEpoch);

    /// <summary>
    /// A small KB. Sorted, its files are: README.md, data/blob.bin, notes/c1.md, notes/c22.md,
    /// topics/archive/2025/old.md, topics/inbox-old/z.md, topics/inbox/a.md, topics/inbox/b.md,
    /// topics/top.md, topics/x.txt.
    /// </summary>
    public static InMemoryKbClone SampleKb() => new InMemoryKbClone()
        .WithFile("README.md", "# KB\nWelcome to the knowledge base.\n")
        .WithBytes("data/blob.bin", [.. "TODO"u8, 0, .. "binary"u8])
        .WithFile("notes/c1.md", "one\n")
        .WithFile("notes/c22.md", "twenty-two\n")
        .WithFile("topics/archive/2025/old.md", "old TODO\n")
        .WithFile("topics/inbox-old/z.md", "zeta\n")
        .WithFile("topics/inbox/a.md", "alpha\nBeta line with a todo\nthe end\n")
        .WithFile("topics/inbox/b.md", "beta\nTODO: gamma\n")
        .WithFile("topics/top.md", "Top level topic\n")
        .WithFile("topics/x.txt", "x\n");

    /// <summary>Runs the operations on a fresh workspace, and commits its changes (when there are any) only if the task succeeds.</summary>
    public static (AgentResult Result, IReadOnlyList<TreeChange> Changes) Run(InMemoryKbClone clone, bool readOnly, params FileOperation[] operations)
    {
        var workspace = new KbWorkspace(clone);
        var result = FilesAgent.Run(workspace, operations, readOnly);
        var changes = workspace.Changes();
        if (changes.Count > 0 && !readOnly)
        {
            clone.Commit(changes, Author, "Agent files: test");
        }

        return (result, changes);
    }

    public static (AgentResult Result, IReadOnlyList<TreeChange> Changes) Run(InMemoryKbClone clone, params FileOperation[] operations) =>
        Run(clone, readOnly: false, operations);

    /// <summary>
    /// Asserts that the task fails with an <see cref="AgentFailure"/> (<c>agent_failed</c>) and that
    /// nothing was committed: the clone's tree is exactly what it was.
    /// </summary>
    public static AgentFailure Fails(InMemoryKbClone clone, bool readOnly, params FileOperation[] operations) =>
        FailsWith(ReasonCodes.AgentFailed, clone, readOnly, operations);

    public static AgentFailure Fails(InMemoryKbClone clone, params FileOperation[] operations) => Fails(clone, readOnly: false, operations);

    /// <summary>Asserts that the task fails with <c>path_conflict</c> (a file where a folder is needed, or the reverse) and that nothing was committed.</summary>
    public static AgentFailure Conflicts(InMemoryKbClone clone, params FileOperation[] operations) =>
        FailsWith(ReasonCodes.PathConflict, clone, readOnly: false, operations);

    private static AgentFailure FailsWith(string reasonCode, InMemoryKbClone clone, bool readOnly, FileOperation[] operations)
    {
        var before = clone.Snapshot();
        var commits = clone.Commits;

        var failure = Assert.Throws<AgentFailure>(() => Run(clone, readOnly, operations));

        Assert.Equal(reasonCode, failure.ReasonCode);
        Assert.EndsWith("Nothing was committed.", failure.Message, StringComparison.Ordinal);
        Assert.Equal(commits, clone.Commits);
        Assert.Equal(before, clone.Snapshot());
        return failure;
    }

    public static string Sha256(string text) => Sha256(Encoding.UTF8.GetBytes(text));

    public static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    public static string Text(TreeChange change) => change.Content is null ? "(removed)" : Encoding.UTF8.GetString(change.Content);

    /// <summary>The changes as "path=text" or "path=(removed)", in order.</summary>
    public static IReadOnlyList<string> Describe(IReadOnlyList<TreeChange> changes) => changes.Select(c => $"{c.Path}={Text(c)}").ToList();
}

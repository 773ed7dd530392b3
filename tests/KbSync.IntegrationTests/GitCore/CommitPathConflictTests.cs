using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker;
using KbSync.KbWorker.Git;
using KbSync.Persistence.KnowledgeBases;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// The worker's clone (libgit2, a real bare remote) given commits that change a file into a folder or
/// a folder into a file: a conflict fails before anything is written and the clone goes on; a
/// replacement the commit makes whole is built right (every tree checked by <c>git fsck</c>).
/// </summary>
public sealed class CommitPathConflictTests : IDisposable
{
    private static readonly CommitAuthor Author = new("Test", "test@example.com", DateTimeOffset.UnixEpoch);
    private readonly TempFolder _folder = new();
    private readonly GitRemote _remote;
    private readonly KbRemote _kb;
    private readonly KbClones _clones;

    public CommitPathConflictTests()
    {
        _remote = new GitRemote(_folder.Combine("paths-kb.git"));
        var rules = new RemoteRules(new RemoteOptions { LocalRoot = _folder.Path });
        var record = new KbRegistration("paths-kb", _remote.Path).ToRecord(DateTimeOffset.UtcNow, rules);
        _kb = new KbRemote(record.Id, record.RemoteUrl, record.Branch, record.TokenEnv);
        _clones = new KbClones(Options.Create(new KbWorkerOptions { WorkerId = "t", DataPath = _folder.Combine("data") }), rules, NullLogger<KbClones>.Instance);
    }

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_path_conflict_fails_before_anything_is_written_and_the_clone_commits_the_next_change()
    {
        await CommitAsync(TreeChange.Put("topics/inbox", "a file\n"));
        using var clone = await OpenAsync();
        var tip = clone.Tip;

        var conflict = Assert.Throws<PathConflict>(() => clone.Commit([TreeChange.Put("topics/ok.md", "ok\n"), TreeChange.Put("topics/inbox/a.md", "a\n")], Author, "conflicting"));
        clone.Commit([TreeChange.Put("topics/other.md", "other\n")], Author, "next");
        await clone.PushAsync(CancellationToken.None);

        Assert.Equal(ReasonCodes.PathConflict, conflict.ReasonCode);
        Assert.Equal("topics/inbox is a file, not a folder, so topics/inbox/a.md cannot be under it.", conflict.Message);
        Assert.Equal(tip, _remote.Commits()[^2].Sha);
        Assert.Equal(["topics/inbox", "topics/other.md"], _remote.Files());
        await GitCli.AssertCompleteAsync(_remote.Path);
    }

    [Fact]
    public async Task A_folder_the_commit_empties_becomes_a_file()
    {
        await CommitAsync(TreeChange.Put("index/2026-11.md", "a\n"), TreeChange.Put("index/old/2025-01.md", "b\n"), TreeChange.Put("index.md", "i\n"));

        await CommitAsync(TreeChange.Remove("index/2026-11.md"), TreeChange.Remove("index/old/2025-01.md"), TreeChange.Put("index", "now a file\n"), TreeChange.Put("archive/2026-11.md", "a\n"));

        Assert.Equal(["archive/2026-11.md", "index", "index.md"], _remote.Files());
        Assert.Equal("now a file\n", _remote.ReadFile("index"));
        await GitCli.AssertCompleteAsync(_remote.Path);
    }

    [Fact]
    public async Task A_file_the_commit_removes_becomes_a_folder()
    {
        await CommitAsync(TreeChange.Put("topics/inbox", "a file\n"), TreeChange.Put("topics/top.md", "t\n"));

        await CommitAsync(TreeChange.Remove("topics/inbox"), TreeChange.Put("topics/inbox/a.md", "a\n"));

        Assert.Equal(["topics/inbox/a.md", "topics/top.md"], _remote.Files());
        await GitCli.AssertCompleteAsync(_remote.Path);
    }

    [Fact]
    public async Task A_folder_removed_while_a_file_is_written_in_it_holds_only_the_new_file()
    {
        await CommitAsync(TreeChange.Put("drafts/a.md", "a\n"), TreeChange.Put("drafts/b.md", "b\n"), TreeChange.Put("keep.md", "k\n"));

        await CommitAsync(TreeChange.Remove("drafts"), TreeChange.Put("drafts/c.md", "c\n"));

        Assert.Equal(["drafts/c.md", "keep.md"], _remote.Files());
        await GitCli.AssertCompleteAsync(_remote.Path);
    }

    [Fact]
    public async Task A_folder_that_keeps_a_file_cannot_become_a_file_and_the_tip_stays()
    {
        await CommitAsync(TreeChange.Put("index/2026-11.md", "a\n"), TreeChange.Put("index/2026-12.md", "b\n"));
        using var clone = await OpenAsync();

        var conflict = Assert.Throws<PathConflict>(() => clone.Commit([TreeChange.Remove("index/2026-11.md"), TreeChange.Put("index", "file\n")], Author, "conflicting"));

        Assert.Equal("index is a folder (it holds index/2026-12.md), so it cannot be written as a file.", conflict.Message);
        Assert.Equal(_remote.Commits()[^1].Sha, clone.Tip);
    }

    private async Task<IKbClone> OpenAsync()
    {
        var clone = _clones.Open(_kb);
        await clone.SyncAsync(fetch: true, CancellationToken.None);
        return clone;
    }

    private async Task CommitAsync(params TreeChange[] changes)
    {
        using var clone = await OpenAsync();
        clone.Commit(changes, Author, "commit");
        Assert.Equal(PushOutcome.Pushed, await clone.PushAsync(CancellationToken.None));
    }
}

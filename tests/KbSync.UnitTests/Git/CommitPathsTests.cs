using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker.Git;
using KbSync.UnitTests.Agents;

namespace KbSync.UnitTests.Git;

public sealed class CommitPathsTests
{
    private static TreeChange Put(string path) => TreeChange.Put(path, "x");

    private static TreeChange Remove(string path) => TreeChange.Remove(path);

    private static PathConflict Conflict(InMemoryKbClone tip, params TreeChange[] changes)
    {
        var conflict = Assert.Throws<PathConflict>(() => CommitPaths.Check(changes, tip));
        Assert.Equal(ReasonCodes.PathConflict, conflict.ReasonCode);
        return conflict;
    }

    [Fact]
    public void New_files_in_new_folders_are_one_plain_edit()
    {
        var changes = new[] { Put("topics/inbox/a.md"), Put("index/2026-12.md"), Put("index.md") };

        var plan = CommitPaths.Check(changes, new InMemoryKbClone());

        Assert.Empty(plan.RemovedFirst);
        Assert.Equal(changes, plan.Changes);
    }

    [Fact]
    public void Files_replaced_and_written_beside_existing_folders_are_one_plain_edit()
    {
        var tip = new InMemoryKbClone().WithFile("topics/inbox/a.md", "a").WithFile("index.md", "# Index\n");
        var changes = new[] { Put("topics/inbox/b.md"), Put("index.md"), Remove("topics/inbox/a.md") };

        var plan = CommitPaths.Check(changes, tip);

        Assert.Empty(plan.RemovedFirst);
        Assert.Equal(changes, plan.Changes);
    }

    [Fact]
    public void A_file_where_a_folder_is_needed_on_the_way_is_a_path_conflict_naming_both_paths()
    {
        var tip = new InMemoryKbClone().WithFile("topics/inbox", "a file");

        var conflict = Conflict(tip, Put("topics/inbox/2026-12-01-note.md"));

        Assert.Equal("topics/inbox is a file, not a folder, so topics/inbox/2026-12-01-note.md cannot be under it.", conflict.Message);
        Assert.Equal("topics/inbox/2026-12-01-note.md", conflict.Path);
        Assert.Equal("topics/inbox", conflict.ConflictsWith);
    }

    [Fact]
    public void A_file_further_up_the_way_is_found_too()
    {
        var conflict = Conflict(new InMemoryKbClone().WithFile("index", "a file"), Put("index/2026-12.md/x"));

        Assert.Equal("index", conflict.ConflictsWith);
        Assert.Contains("index/2026-12.md/x", conflict.Message);
    }

    [Theory]
    [InlineData(KbEntryKind.Symlink, "a symlink")]
    [InlineData(KbEntryKind.Submodule, "a submodule")]
    [InlineData(KbEntryKind.Executable, "a file")]
    public void A_symlink_submodule_or_executable_on_the_way_is_a_path_conflict(KbEntryKind kind, string described)
    {
        var tip = new InMemoryKbClone().With("topics/link", kind, Encoding.UTF8.GetBytes("target"));

        var conflict = Conflict(tip, Put("topics/link/a.md"));

        Assert.StartsWith($"topics/link is {described}, not a folder", conflict.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_where_a_file_would_be_written_is_a_path_conflict_naming_a_file_it_holds()
    {
        var tip = new InMemoryKbClone().WithFile("index/2026-12.md/a.md", "a").WithFile("index/2026-12.md/b.md", "b");

        var conflict = Conflict(tip, Put("index/2026-12.md"));

        Assert.Equal("index/2026-12.md is a folder (it holds index/2026-12.md/a.md), so it cannot be written as a file.", conflict.Message);
        Assert.Equal("index/2026-12.md", conflict.Path);
    }

    [Fact]
    public void A_submodule_where_a_file_would_be_written_is_a_path_conflict()
    {
        var conflict = Conflict(new InMemoryKbClone().WithSubmodule("vendor/lib"), Put("vendor/lib"));

        Assert.Equal("vendor/lib is a submodule, so it cannot be written as a file.", conflict.Message);
    }

    [Fact]
    public void A_folder_the_commit_empties_may_become_a_file_and_is_removed_first()
    {
        var tip = new InMemoryKbClone().WithFile("index/2026-11.md", "a").WithFile("index/old/2025-01.md", "b").WithFile("index.md", "i");

        var plan = CommitPaths.Check([Remove("index/2026-11.md"), Remove("index/old/2025-01.md"), Put("index"), Put("archive/index/2026-11.md")], tip);

        Assert.Equal(["index"], plan.RemovedFirst);
        Assert.Equal(["index", "archive/index/2026-11.md"], plan.Changes.Select(c => c.Path));
    }

    [Fact]
    public void A_folder_the_commit_empties_only_in_part_is_a_path_conflict_naming_what_stays()
    {
        var tip = new InMemoryKbClone().WithFile("index/2026-11.md", "a").WithFile("index/2026-12.md", "b");

        var conflict = Conflict(tip, Remove("index/2026-11.md"), Put("index"));

        Assert.Equal("index/2026-12.md", conflict.ConflictsWith);
    }

    [Fact]
    public void A_file_the_commit_removes_may_become_a_folder_and_is_removed_first()
    {
        var tip = new InMemoryKbClone().WithFile("topics/inbox", "a file");

        var plan = CommitPaths.Check([Remove("topics/inbox"), Put("topics/inbox/a.md")], tip);

        Assert.Equal(["topics/inbox"], plan.RemovedFirst);
        Assert.Equal(["topics/inbox/a.md"], plan.Changes.Select(c => c.Path));
    }

    [Fact]
    public void A_folder_removed_while_a_file_is_written_in_it_is_removed_first()
    {
        var tip = new InMemoryKbClone().WithFile("drafts/a.md", "a").WithFile("drafts/b.md", "b");

        var plan = CommitPaths.Check([Remove("drafts"), Put("drafts/c.md")], tip);

        Assert.Equal(["drafts"], plan.RemovedFirst);
        Assert.Equal(["drafts/c.md"], plan.Changes.Select(c => c.Path));
    }

    [Fact]
    public void Removals_under_a_removed_folder_are_left_to_it()
    {
        var tip = new InMemoryKbClone().WithFile("drafts/a.md", "a").WithFile("drafts/b.md", "b");

        var plan = CommitPaths.Check([Remove("drafts/a.md"), Remove("drafts")], tip);

        Assert.Empty(plan.RemovedFirst);
        Assert.Equal(["drafts"], plan.Changes.Select(c => c.Path));
    }

    [Fact]
    public void A_file_and_a_file_under_it_in_one_commit_are_a_path_conflict()
    {
        var conflict = Conflict(new InMemoryKbClone(), Put("notes/a.md"), Put("notes/a.md/b.md"));

        Assert.Equal("notes/a.md and notes/a.md/b.md cannot both be in one commit: notes/a.md is written as a file, and notes/a.md/b.md needs it to be a folder.", conflict.Message);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public void One_path_changed_twice_in_one_commit_is_a_path_conflict(bool firstWrites, bool secondWrites)
    {
        var conflict = Conflict(
            new InMemoryKbClone().WithFile("a.md", "a"),
            firstWrites ? Put("a.md") : Remove("a.md"),
            secondWrites ? Put("a.md") : Remove("a.md"));

        Assert.Contains("the path is changed twice", conflict.Message);
    }

    [Fact]
    public void The_check_reads_only_the_folders_on_the_way_to_the_changed_paths()
    {
        var tip = new InMemoryKbClone();
        for (var i = 0; i < 10_000; i++)
        {
            tip.WithFile($"topics/inbox/2026-11-{i:00000}.md", "note");
        }

        tip.WithFile("index/2026-12.md", "# Notes of 2026-12\n").WithFile("index.md", "# Index\n");

        CommitPaths.Check([Put("topics/inbox/2026-12-01-new.md"), Put("index/2026-12.md"), Put("index.md")], tip);

        Assert.Empty(tip.FolderWalks);
        Assert.Equal(["index", "index.md", "index/2026-12.md", "topics", "topics/inbox", "topics/inbox/2026-12-01-new.md"], tip.KindLookups.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_conflicting_commit_changes_nothing()
    {
        var tip = new InMemoryKbClone().WithFile("topics/inbox", "a file");
        var before = tip.Snapshot();

        Assert.Throws<PathConflict>(() => tip.Commit([Put("topics/ok.md"), Put("topics/inbox/a.md")], new CommitAuthor("a", "a@b", DateTimeOffset.UnixEpoch), "m"));

        Assert.Equal(before, tip.Snapshot());
        Assert.Equal(0, tip.Commits);
    }
}

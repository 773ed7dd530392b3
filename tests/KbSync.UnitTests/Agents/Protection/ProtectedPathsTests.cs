using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Agents.Protection;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Pipeline;
using Microsoft.Extensions.Options;

namespace KbSync.UnitTests.Agents.Protection;

/// <summary>Which paths the defaults and a KB's own list protect: nested git dotfiles, case, git's aliases, folders.</summary>
public sealed class ProtectedPathsTests
{
    [Theory]
    [InlineData(".gitmodules", "**/.gitmodules")]
    [InlineData("topics/.gitmodules", "**/.gitmodules")]
    [InlineData("topics/deep/GITMOD~1", "**/.gitmodules")]
    [InlineData("~1000000", "**/.gitmodules")]
    [InlineData(".gitattributes", "**/.gitattributes")]
    [InlineData("topics/.gitattributes", "**/.gitattributes")]
    [InlineData("topics/inbox/.GitAttributes", "**/.gitattributes")]
    [InlineData("topics/.gitignore", "**/.gitignore")]
    [InlineData(".gitmodules/under-a-file.md", "**/.gitmodules")]
    [InlineData(".mailmap", ".mailmap")]
    [InlineData("MAILMA~1", ".mailmap")]
    [InlineData(".lfsconfig", ".lfsconfig")]
    [InlineData(".LFSConfig", ".lfsconfig")]
    [InlineData(".github/workflows/x.yml", ".github/")]
    [InlineData(".GitHub/workflows/x.yml", ".github/")]
    [InlineData(".github", ".github/")]
    [InlineData(".github/.gitkeep", ".github/")]
    [InlineData(".gitlab-ci.yml", ".gitlab-ci.yml")]
    [InlineData(".gitlab/CODEOWNERS", ".gitlab/")]
    [InlineData(".forgejo/workflows/ci.yml", ".forgejo/")]
    [InlineData("Jenkinsfile", "Jenkinsfile")]
    [InlineData("docs/CODEOWNERS", "docs/CODEOWNERS")]
    [InlineData("index.md", "index.md")]
    [InlineData("INDEX.md", "index.md")]
    [InlineData("index.md/2026-12.md", "index.md")]
    [InlineData("index/2026-12.md", "index/")]
    [InlineData("index", "index/")]
    public void The_defaults_protect_what_changes_how_git_ci_or_kbsync_treat_the_kb(string path, string entry)
    {
        Assert.Equal(entry, ProtectedPaths.Default.ProtectingEntry(path));
    }

    [Theory]
    [InlineData("topics/inbox/note.md")]
    [InlineData("topics/.gitkeep")]
    [InlineData(".gitkeep")]
    [InlineData("topics/.github/workflows/x.yml")] // GitHub reads .github/ at the root only
    [InlineData("topics/index.md")]
    [InlineData("topics/index/2026-12.md")]
    [InlineData("index-2.md")] // protected only where the notes' index has moved there (below)
    [InlineData(".githubx/y.md")]
    [InlineData(".github-notes.md")]
    [InlineData("topics/.lfsconfig")]
    [InlineData("docs/readme.md")]
    [InlineData("README.md")]
    public void The_defaults_leave_the_rest_of_the_kb_to_agents(string path)
    {
        Assert.Null(ProtectedPaths.Default.ProtectingEntry(path));
    }

    [Fact]
    public void A_kbs_own_list_replaces_the_defaults()
    {
        var paths = ProtectedPaths.Of(["docs/", "**/secret.md", "team/Policy.md"]);

        Assert.Equal("docs/", paths.ProtectingEntry("docs/a/b.md"));
        Assert.Equal("docs/", paths.ProtectingEntry("DOCS"));
        Assert.Equal("**/secret.md", paths.ProtectingEntry("topics/x/SECRET.md"));
        Assert.Equal("team/Policy.md", paths.ProtectingEntry("team/policy.md"));
        Assert.Null(paths.ProtectingEntry("team/other.md"));
        Assert.Null(paths.ProtectingEntry(".github/workflows/x.yml"));
        Assert.Null(paths.ProtectingEntry("index.md"));
    }

    [Fact]
    public void An_empty_list_protects_nothing()
    {
        Assert.Null(ProtectedPaths.Of([]).ProtectingEntry(".gitmodules"));
    }

    [Fact]
    public void Entries_are_read_like_the_cli_writes_them()
    {
        var paths = ProtectedPaths.Of(["\\.github\\", "/./docs//a.md", "**/.GITATTRIBUTES"]);

        Assert.Equal([".github/", "docs/a.md", "**/.GITATTRIBUTES"], paths.Entries);
        Assert.Equal("**/.GITATTRIBUTES", paths.ProtectingEntry("x/gitatt~1"));
    }

    [Fact]
    public void An_entry_that_cannot_be_read_protects_everything_and_is_named()
    {
        var paths = ProtectedPaths.Of(["docs/", "../outside"]);

        Assert.Equal("../outside", paths.ProtectingEntry("topics/inbox/note.md"));
    }

    [Fact]
    public void Where_notes_write_the_index_under_a_sibling_name_that_name_is_protected_too()
    {
        var clone = new InMemoryKbClone()
            .WithFile("index.md/readme.md", "someone made index.md a folder\n")
            .WithFile("index", "someone made index a file\n");

        var paths = ProtectedPaths.Default.WithIndexWhereNotesWriteIt(p => clone.Entry(p)?.Kind);

        Assert.Equal("index-2.md", paths.ProtectingEntry("index-2.md"));
        Assert.Equal("index-2/", paths.ProtectingEntry("index-2/2026-12.md"));
        Assert.Null(paths.ProtectingEntry("index-3.md"));
    }

    [Fact]
    public void Index_siblings_stay_unprotected_where_the_notes_do_not_use_them_or_the_list_does_not_protect_the_index()
    {
        var clean = new InMemoryKbClone().WithFile("index.md", "# Index\n");
        var moved = new InMemoryKbClone().WithFile("index.md/readme.md", "x\n");

        Assert.Null(ProtectedPaths.Default.WithIndexWhereNotesWriteIt(p => clean.Entry(p)?.Kind).ProtectingEntry("index-2.md"));
        Assert.Null(ProtectedPaths.Of(["docs/"]).WithIndexWhereNotesWriteIt(p => moved.Entry(p)?.Kind).ProtectingEntry("index-2.md"));
    }

    public static TheoryData<string[]> Obstacles => new()
    {
        Array.Empty<string>(),
        new[] { "index.md/readme.md" },
        new[] { "index" },
        new[] { "index.md/readme.md", "index-2.md/readme.md", "index" },
        new[] { "index/2026-12.md/readme.md" },
    };

    /// <summary>The rule is checked against the note writer itself: whatever index file a note writes is protected for agents.</summary>
    [Theory]
    [MemberData(nameof(Obstacles))]
    public void Every_index_file_a_note_writes_is_protected_from_agents(string[] obstacles)
    {
        var clone = new InMemoryKbClone();
        foreach (var path in obstacles)
        {
            clone.WithFile(path, "someone's file\n");
        }

        var paths = ProtectedPaths.Default.WithIndexWhereNotesWriteIt(p => clone.Entry(p)?.Kind);
        var before = clone.Snapshot();
        new NoteWriter(Options.Create(new KbWorkerOptions())).Apply(clone, new PendingOperation(new KbRequest(Guid.NewGuid(), "kb", "alice", December, new NoteContent("A note")), December));

        var written = clone.Snapshot().Except(before).Select(e => e.Split(':')[1]).Where(p => !p.StartsWith("topics/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(written);
        Assert.All(written, path => Assert.NotNull(paths.ProtectingEntry(path)));
    }

    [Fact]
    public void A_submodule_in_the_way_of_the_index_sends_it_to_the_next_free_name_and_that_is_protected()
    {
        var clone = new InMemoryKbClone().WithSubmodule("index.md").WithFile("index-2.md/x.md", "x\n");

        var paths = ProtectedPaths.Default.WithIndexWhereNotesWriteIt(p => clone.Entry(p)?.Kind);

        Assert.Equal("index-3.md", paths.ProtectingEntry("index-3.md"));
        Assert.Null(paths.ProtectingEntry("index-2.md/x.md"));
    }

    private static readonly DateTimeOffset December = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
}

using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Agents.Protection;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Pipeline;
using Microsoft.Extensions.Options;

namespace KbSync.UnitTests.Agents.Protection;

/// <summary>
/// Notes are not checked against protected paths, by design: they are written only as
/// <c>topics/&lt;category&gt;/&lt;date&gt;-&lt;slug&gt;.md</c>, where the category and the name are slugs (ASCII letters,
/// digits, '-'), plus KbSync's own index, which the note writer is there to keep. These tests hold that: whatever
/// category and title a producer sends, a note touches no protected path of the defaults but the index.
/// </summary>
public sealed class NotesStayOutOfProtectedPathsTests
{
    private static readonly DateTimeOffset December = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly string[] IndexEntries = ["index.md", "index/"];

    [Theory]
    [InlineData(".github", ".github/workflows/x.yml")]
    [InlineData(".github/workflows", "on: push")]
    [InlineData("/.github/", "x")]
    [InlineData("\\.github", "x")]
    [InlineData(".gitmodules", ".gitmodules")]
    [InlineData("GITMOD~1", "~1000000")]
    [InlineData("topics/.gitattributes", ".gitattributes")]
    [InlineData("index", "index.md")]
    [InlineData("Jenkinsfile", "Jenkinsfile")]
    [InlineData("docs/CODEOWNERS", "CODEOWNERS")]
    [InlineData(null, ".mailmap")]
    public void Whatever_the_category_and_title_a_note_touches_no_protected_path_but_the_index(string? category, string title)
    {
        var clone = new InMemoryKbClone();
        var request = new KbRequest(Guid.NewGuid(), "kb", "mallory", December, new NoteContent("text", Title: title, Category: category));
        var outcome = new NoteWriter(Options.Create(new KbWorkerOptions())).Apply(clone, new PendingOperation(request, December)).Outcome;

        Assert.StartsWith("topics/", outcome.NotePath);
        var written = clone.Files().Select(f => f.Path).ToList();
        Assert.Equal(3, written.Count); // the note, its month's index, index.md
        foreach (var path in written)
        {
            var entry = ProtectedPaths.Default.ProtectingEntry(path);
            Assert.True(entry is null || IndexEntries.Contains(entry), $"{path} is protected by {entry}");
            Assert.Equal(path == outcome.NotePath, entry is null);
        }
    }

    [Theory]
    [InlineData("../.github")]
    [InlineData(".git")]
    [InlineData("a/b/.github")]
    public void A_category_that_is_no_slug_path_is_an_invalid_request_and_nothing_is_written(string category)
    {
        Assert.Throws<ArgumentException>(() => NoteLayout.CategoryOf(category));
    }
}

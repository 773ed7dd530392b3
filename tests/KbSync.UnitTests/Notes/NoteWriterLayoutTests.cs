using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Pipeline;
using KbSync.UnitTests.Agents;
using Microsoft.Extensions.Options;

namespace KbSync.UnitTests.Notes;

/// <summary>
/// Where notes and their index lines land when the KB holds a file where the layout needs a folder,
/// or a folder where it needs a file: the next free sibling name, found again by every later note.
/// </summary>
public sealed class NoteWriterLayoutTests
{
    private static readonly DateTimeOffset December = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private readonly NoteWriter _writer = new(Options.Create(new KbWorkerOptions()));

    private OperationOutcome Write(InMemoryKbClone clone, string text, string? category = null) =>
        _writer.Apply(clone, new PendingOperation(new KbRequest(Guid.NewGuid(), "kb", "alice", December, new NoteContent(text, Category: category)), December)).Outcome;

    [Fact]
    public void In_an_empty_kb_a_note_lands_where_the_layout_says()
    {
        var clone = new InMemoryKbClone();

        var outcome = Write(clone, "First note");

        Assert.Equal("topics/inbox/2026-12-01-first-note.md", outcome.NotePath);
        Assert.Contains("](../topics/inbox/2026-12-01-first-note.md)", clone.ReadText("index/2026-12.md"));
        Assert.Equal("# Index\n\n- [2026-12](index/2026-12.md)\n", clone.ReadText("index.md"));
    }

    [Fact]
    public void When_the_category_folder_is_a_file_notes_go_to_its_next_free_sibling_and_so_does_the_next_note()
    {
        var clone = new InMemoryKbClone().WithFile("topics/inbox", "someone's file\n");

        var first = Write(clone, "First note");
        var second = Write(clone, "Second note");

        Assert.Equal("topics/inbox-2/2026-12-01-first-note.md", first.NotePath);
        Assert.Equal("topics/inbox-2/2026-12-01-second-note.md", second.NotePath);
        Assert.Equal("someone's file\n", clone.ReadText("topics/inbox"));
        var month = clone.ReadText("index/2026-12.md")!;
        Assert.Contains("- [First note](../topics/inbox-2/2026-12-01-first-note.md) - 2026-12-01 - `inbox`", month);
        Assert.Contains("- [Second note](../topics/inbox-2/2026-12-01-second-note.md) - 2026-12-01 - `inbox`", month);
    }

    [Fact]
    public void Siblings_that_are_files_too_are_passed_over()
    {
        var clone = new InMemoryKbClone().WithFile("topics/inbox", "a").WithFile("topics/inbox-2", "b").WithFile("topics/inbox-3/x.md", "a folder");

        Assert.Equal("topics/inbox-3/2026-12-01-note.md", Write(clone, "Note").NotePath);
    }

    [Fact]
    public void When_a_folder_further_up_is_a_file_the_rule_applies_there()
    {
        var clone = new InMemoryKbClone().WithFile("topics", "a file named topics\n");

        Assert.Equal("topics-2/tech/dotnet/2026-12-01-note.md", Write(clone, "Note", category: "tech/dotnet").NotePath);
    }

    [Fact]
    public void When_the_index_folder_is_a_file_month_files_go_to_index_2_and_index_md_links_them_there()
    {
        var clone = new InMemoryKbClone().WithFile("index", "someone's index\n").WithFile("index.md", "# Index\n");

        var first = Write(clone, "First note");
        Write(clone, "Second note");

        Assert.Contains($"](../{first.NotePath})", clone.ReadText("index-2/2026-12.md"));
        Assert.Contains("- [Second note]", clone.ReadText("index-2/2026-12.md"));
        Assert.Equal("# Index\n- [2026-12](index-2/2026-12.md)\n", clone.ReadText("index.md"));
        Assert.Equal("someone's index\n", clone.ReadText("index"));
    }

    [Fact]
    public void When_the_month_file_is_a_folder_the_month_is_indexed_in_its_next_free_sibling_file()
    {
        var clone = new InMemoryKbClone().WithFile("index/2026-12.md/notes.md", "someone's folder\n");

        Write(clone, "First note");
        Write(clone, "Second note");

        var month = clone.ReadText("index/2026-12-2.md")!;
        Assert.StartsWith("# Notes of 2026-12\n\n- [First note]", month, StringComparison.Ordinal);
        Assert.Contains("- [Second note]", month);
        Assert.Equal("# Index\n\n- [2026-12](index/2026-12-2.md)\n", clone.ReadText("index.md"));
        Assert.Equal("someone's folder\n", clone.ReadText("index/2026-12.md/notes.md"));
    }

    [Fact]
    public void When_index_md_is_a_folder_months_are_linked_from_index_2_md()
    {
        var clone = new InMemoryKbClone().WithFile("index.md/readme.md", "a folder\n");

        Write(clone, "Note");

        Assert.Equal("# Index\n\n- [2026-12](index/2026-12.md)\n", clone.ReadText("index-2.md"));
    }

    [Fact]
    public void A_note_whose_name_is_taken_in_the_sibling_folder_gets_a_number_as_before()
    {
        var clone = new InMemoryKbClone().WithFile("topics/inbox", "a").WithFile("topics/inbox-2/2026-12-01-note.md", "taken");

        Assert.Equal("topics/inbox-2/2026-12-01-note-2.md", Write(clone, "Note").NotePath);
    }

    [Fact]
    public void A_note_with_no_place_at_all_fails_with_path_conflict_and_nothing_is_committed()
    {
        var clone = new InMemoryKbClone().WithFile("topics/inbox", "x");
        for (var n = 2; n <= NoteLayout.MaxSiblings; n++)
        {
            clone.WithFile($"topics/inbox-{n}", "x");
        }

        var conflict = Assert.Throws<PathConflict>(() => Write(clone, "Note"));

        Assert.Equal(ReasonCodes.PathConflict, conflict.ReasonCode);
        Assert.Equal("The note has no place: topics/inbox, or a folder on the way to it, is a file, and so are its next 99 sibling names (-2 to -100). Nothing was committed.", conflict.Message);
        Assert.Equal(0, clone.Commits);
    }
}

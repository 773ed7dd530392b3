using KbSync.Contracts;
using KbSync.KbWorker.Operations;

namespace KbSync.UnitTests.Notes;

/// <summary>The checks on a note request before any git work (RequestValidation lives in Operations).</summary>
public sealed class RequestValidationTests
{
    private const int MaxNoteBytes = 1000;

    private static readonly KbRequest Valid = new(
        Guid.Parse("0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f"),
        "team-notes",
        "jane@example.com",
        new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero),
        new NoteContent("# Hello\n\nSome text.", Title: null, Category: "Tech/DotNet", Tags: ["a", "b"]));

    [Fact]
    public void A_good_request_has_no_problem()
    {
        Assert.Null(RequestValidation.Problem(Valid, MaxNoteBytes));
    }

    [Fact]
    public void A_request_with_only_the_required_fields_has_no_problem()
    {
        Assert.Null(RequestValidation.Problem(Valid with { Note = new NoteContent("text") }, MaxNoteBytes));
    }

    [Theory]
    [InlineData("Team-Notes")]
    [InlineData("team_notes")]
    [InlineData("-team")]
    [InlineData("")]
    [InlineData("../etc")]
    public void A_bad_kb_id_is_a_problem_naming_the_id(string kbId)
    {
        var problem = RequestValidation.Problem(Valid with { KbId = kbId }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains($"'{kbId}'", problem, StringComparison.Ordinal);
        Assert.Contains("KB id", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_kb_id_is_a_problem()
    {
        var problem = RequestValidation.Problem(Valid with { KbId = null! }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains("KB id", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void An_empty_requester_is_a_problem(string? requestedBy)
    {
        var problem = RequestValidation.Problem(Valid with { RequestedBy = requestedBy! }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains("requestedBy", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("jane\n")]
    [InlineData("jane\r\nX-Injected: header")]
    [InlineData("ja\u0000ne")]
    [InlineData("jane\u001b[31m")]
    [InlineData("jane\tdoe")]
    public void Control_characters_in_the_requester_are_a_problem(string requestedBy)
    {
        var problem = RequestValidation.Problem(Valid with { RequestedBy = requestedBy }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains("requestedBy", problem, StringComparison.Ordinal);
        Assert.Contains("control characters", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_requester_of_200_characters_is_fine_but_not_201()
    {
        Assert.Null(RequestValidation.Problem(Valid with { RequestedBy = new string('j', 200) }, MaxNoteBytes));

        var problem = RequestValidation.Problem(Valid with { RequestedBy = new string('j', 201) }, MaxNoteBytes);
        Assert.NotNull(problem);
        Assert.Contains("requestedBy", problem, StringComparison.Ordinal);
        Assert.Contains("200", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_request_time_is_a_problem()
    {
        var problem = RequestValidation.Problem(Valid with { RequestedAt = default }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains("requestedAt", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_request_without_a_note_is_a_problem()
    {
        var problem = RequestValidation.Problem(Valid with { Note = null }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains("exactly one of 'note' and 'agentTask'", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\r\n\t\n")]
    public void An_empty_note_text_is_a_problem(string? text)
    {
        var problem = RequestValidation.Problem(Valid with { Note = new NoteContent(text!) }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains("text is empty", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_note_text_over_the_byte_limit_is_a_problem_naming_the_limit()
    {
        Assert.Null(RequestValidation.Problem(Valid with { Note = new NoteContent(new string('x', 10)) }, 10));

        var problem = RequestValidation.Problem(Valid with { Note = new NoteContent(new string('x', 11)) }, 10);
        Assert.NotNull(problem);
        Assert.Contains("larger than 10 bytes", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void The_note_size_limit_counts_utf8_bytes_not_characters()
    {
        // "é" is one char but two UTF-8 bytes: 6 chars = 12 bytes.
        Assert.Null(RequestValidation.Problem(Valid with { Note = new NoteContent("ééééé") }, 10));
        Assert.NotNull(RequestValidation.Problem(Valid with { Note = new NoteContent("éééééé") }, 10));
    }

    [Theory]
    [InlineData("a/b/c")]
    [InlineData("../x")]
    [InlineData("!!!")]
    public void A_bad_category_is_a_problem_naming_the_category(string category)
    {
        var problem = RequestValidation.Problem(Valid with { Note = new NoteContent("text", Category: category) }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains($"'{category}'", problem, StringComparison.Ordinal);
        Assert.Contains("category", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_tags_are_a_problem()
    {
        var tags = Enumerable.Range(0, 21).Select(i => $"t{i}").ToList();
        var problem = RequestValidation.Problem(Valid with { Note = new NoteContent("text", Tags: tags) }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains("Tags", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a,b")]
    [InlineData("tab\there")]
    public void A_bad_tag_is_a_problem(string tag)
    {
        var problem = RequestValidation.Problem(Valid with { Note = new NoteContent("text", Tags: [tag]) }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains("Tags", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_too_long_tag_is_a_problem()
    {
        var problem = RequestValidation.Problem(Valid with { Note = new NoteContent("text", Tags: [new string('t', 51)]) }, MaxNoteBytes);

        Assert.NotNull(problem);
        Assert.Contains("Tags", problem, StringComparison.Ordinal);
    }
}

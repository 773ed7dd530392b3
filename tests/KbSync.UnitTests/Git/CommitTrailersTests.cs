using KbSync.KbWorker.Git;

namespace KbSync.UnitTests.Git;

public sealed class CommitTrailersTests
{
    private static readonly Guid OperationId = Guid.Parse("0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f");
    private const string Hash = "35c6b9f66dceb6cf8f733d08689564e420e18eb40250d9435352617c027f36d6";
    private const string Sha = "1234567890abcdef1234567890abcdef12345678";

    [Fact]
    public void A_commit_message_is_the_subject_a_blank_line_and_the_trailers()
    {
        var message = CommitTrailers.Message("Add note: Hello", OperationId, Hash, "topics/inbox/2026-01-02-hello.md");

        Assert.Equal(
            "Add note: Hello\n" +
            "\n" +
            "KbSync-Operation: 0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f\n" +
            $"KbSync-Content: {Hash}\n" +
            "KbSync-Note: topics/inbox/2026-01-02-hello.md\n",
            message);
    }

    [Fact]
    public void Trailers_written_to_a_message_are_read_back()
    {
        var message = CommitTrailers.Message("Add note: Hello", OperationId, Hash, "topics/inbox/2026-01-02-hello.md");

        Assert.Equal(
            new CommitTrailers(OperationId, Hash, "topics/inbox/2026-01-02-hello.md", Sha),
            CommitTrailers.Parse(message, Sha));
    }

    [Fact]
    public void Missing_content_and_note_trailers_are_read_back_as_null()
    {
        var message = CommitTrailers.Message("Remove something", OperationId, contentHash: null, notePath: null);

        Assert.Equal("Remove something\n\nKbSync-Operation: 0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f\n", message);
        Assert.Equal(new CommitTrailers(OperationId, null, null, Sha), CommitTrailers.Parse(message, Sha));
    }

    [Fact]
    public void Trailers_are_read_from_a_message_with_windows_line_endings()
    {
        var message = CommitTrailers.Message("Add note: Hello", OperationId, Hash, "topics/a.md").ReplaceLineEndings("\r\n");

        Assert.Equal(new CommitTrailers(OperationId, Hash, "topics/a.md", Sha), CommitTrailers.Parse(message, Sha));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Initial commit")]
    [InlineData("Fix typo\n\nSigned-off-by: Jane Doe <jane@example.com>\n")]
    [InlineData("Edit by hand\n\nKbSync-Content: abc\nKbSync-Note: topics/x.md\n")]
    [InlineData("Broken\n\nKbSync-Operation: not-a-guid\n")]
    [InlineData("Wrong key case\n\nkbsync-operation: 0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f\n")]
    public void A_message_without_an_operation_trailer_has_no_trailers(string message)
    {
        Assert.Null(CommitTrailers.Parse(message, Sha));
    }

    [Fact]
    public void Other_trailers_next_to_kbsync_ones_are_ignored()
    {
        const string message =
            "Add note: Hello\n\n" +
            "Co-authored-by: Bob <bob@example.com>\n" +
            "KbSync-Operation: 0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f\n" +
            "Signed-off-by: Jane <jane@example.com>\n";

        Assert.Equal(new CommitTrailers(OperationId, null, null, Sha), CommitTrailers.Parse(message, Sha));
    }

    [Theory]
    [InlineData("Add note: one\ntwo", "Add note: one two")]
    [InlineData("Add note: one\r\ntwo\rthree", "Add note: one two three")]
    [InlineData("  Add note: padded \n", "Add note: padded")]
    public void Line_breaks_in_the_subject_are_flattened_to_one_line(string subject, string expectedFirstLine)
    {
        var message = CommitTrailers.Message(subject, OperationId, Hash, "topics/a.md");
        var lines = message.Split('\n');

        Assert.Equal(expectedFirstLine, lines[0]);
        Assert.Equal("", lines[1]);
        Assert.Equal("KbSync-Operation: 0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f", lines[2]);
    }

    [Fact]
    public void A_subject_cannot_forge_trailers()
    {
        var forged = Guid.Parse("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        var subject = $"Add note: x\n\nKbSync-Operation: {forged}\nKbSync-Note: ../../etc/passwd";

        var trailers = CommitTrailers.Parse(CommitTrailers.Message(subject, OperationId, Hash, "topics/a.md"), Sha);

        Assert.Equal(new CommitTrailers(OperationId, Hash, "topics/a.md", Sha), trailers);
    }
}

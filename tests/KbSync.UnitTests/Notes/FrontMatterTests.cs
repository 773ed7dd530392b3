using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Paths;
using KbSync.KbWorker.Pipeline;
using KbSync.UnitTests.Agents;
using Microsoft.Extensions.Options;

namespace KbSync.UnitTests.Notes;

/// <summary>A note's front matter stays valid YAML, one line per key, and reads back what was sent, whatever the title, tags, category and requester hold.</summary>
public sealed class FrontMatterTests
{
    private static readonly Guid OperationId = Guid.Parse("0b9d7a3e-5f2c-4c1a-9e8d-2a6b4c3d1e0f");
    private static readonly DateTimeOffset CreatedAt = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    public static TheoryData<string> HostileValues =>
    [
        "plain",
        "say \"hi\"",
        "it's",
        "key: value",
        "a # not a comment",
        "#starts with a hash",
        "- looks like a list",
        "-",
        "---",
        "...",
        "[flow] {map} & *alias !tag | > % @ `",
        "C:\\temp\\new",
        "line\nbreak",
        "\r\n",
        "tab\there",
        "nul\0inside",
        "\u0007bell \u001b escape \u007f delete \u0085 next line",
        "\u2028line separator\u2029",
        "\ufeffbyte order mark",
        "\ufffe\uffff",
        "😀 emoji",
        "日本語",
        "\ud800 lone high",
        "lone low \udc00",
        "   spaces around   ",
        "",
        "true",
        "null",
        "2024-01-01",
        "0x1F",
        "~",
    ];

    [Theory]
    [MemberData(nameof(HostileValues))]
    public void Title_tags_and_author_read_back_from_valid_yaml_whatever_they_hold(string value)
    {
        var file = NoteLayout.Render(new NoteContent("Body"), value, "inbox", [value, "ok"], CreatedAt, value, OperationId);

        var expected = SafeText.WithoutLoneSurrogates(value);
        var frontMatter = StrictYaml.FrontMatter(file);
        Assert.Equal(["title", "category", "tags", "created_at", "author", "operation_id"], frontMatter.Select(e => e.Key));
        Assert.Equal(expected, frontMatter[0].Value);
        Assert.Equal("inbox", frontMatter[1].Value);
        Assert.Equal([expected, "ok"], Assert.IsType<List<string>>(frontMatter[2].Value));
        Assert.Equal("2026-12-01T09:00:00Z", frontMatter[3].Value);
        Assert.Equal(expected, frontMatter[4].Value);
        Assert.Equal(OperationId.ToString(), frontMatter[5].Value);
        Assert.EndsWith("---\n\nBody\n", file, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tech/dotnet", "category: tech/dotnet")]
    [InlineData("inbox", "category: inbox")]
    [InlineData("2024", "category: \"2024\"")]
    [InlineData("2024-01-01", "category: \"2024-01-01\"")]
    [InlineData("yes", "category: \"yes\"")]
    [InlineData("off", "category: \"off\"")]
    [InlineData("null", "category: \"null\"")]
    [InlineData("tech/true", "category: tech/true")]
    [InlineData("7up/drinks", "category: \"7up/drinks\"")]
    public void A_category_stays_bare_as_the_original_wrote_it_unless_yaml_would_read_it_as_no_string(string category, string line)
    {
        var file = NoteLayout.Render(new NoteContent("Body"), "t", category, [], CreatedAt, "bob", OperationId);

        Assert.Contains("\n" + line + "\n", file, StringComparison.Ordinal);
        Assert.Contains(("category", (object)category), StrictYaml.FrontMatter(file));
    }

    [Theory]
    [InlineData("O'Brien <ob@x>", "Title: with # and \"quotes\"", "tag: one", "2024")]
    [InlineData("- bot", "---", "#tag", "yes/no")]
    [InlineData("'", "\u2028", "- dash", "null")]
    public void A_note_written_for_a_hostile_request_has_readable_front_matter(string requestedBy, string title, string tag, string category)
    {
        var clone = new InMemoryKbClone();
        var writer = new NoteWriter(Options.Create(new KbWorkerOptions()));
        var request = new KbRequest(OperationId, "kb", requestedBy, CreatedAt, new NoteContent("Body text", title, category, [tag]));

        var outcome = writer.Apply(clone, new PendingOperation(request, CreatedAt)).Outcome;

        var frontMatter = StrictYaml.FrontMatter(clone.ReadText(outcome.NotePath!)!);
        Assert.Contains(("author", (object)requestedBy), frontMatter);
        Assert.Contains(("category", (object)NoteLayout.CategoryOf(category)), frontMatter);
        Assert.Contains(("title", (object)NoteLayout.TitleOf(request.Note!)), frontMatter);
    }
}

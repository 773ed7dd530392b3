using KbSync.Persistence.KnowledgeBases;

namespace KbSync.UnitTests.Agents.Protection;

/// <summary>A KB's list as <c>kbsync kb protect</c> edits it: what an entry may be, and how an edit applies.</summary>
public sealed class ProtectedPathListTests
{
    [Theory]
    [InlineData(".github/", ".github/")]
    [InlineData(" /.github/ ", ".github/")]
    [InlineData("\\.github\\workflows\\", ".github/workflows/")]
    [InlineData("./docs//CODEOWNERS", "docs/CODEOWNERS")]
    [InlineData("**/.gitattributes", "**/.gitattributes")]
    [InlineData("**/secrets/", "**/secrets/")]
    [InlineData("Team/Policy.md", "Team/Policy.md")]
    public void An_entry_is_stored_as_a_plain_path_from_the_root(string given, string stored)
    {
        Assert.Equal(stored, ProtectedPathList.NormalizeEntry(given));
    }

    [Theory]
    [InlineData("", "may not be empty")]
    [InlineData("  ", "may not be empty")]
    [InlineData("/", "without '..' or wildcards")]
    [InlineData("docs/../secret.md", "without '..' or wildcards")]
    [InlineData("*.yml", "without '..' or wildcards")]
    [InlineData("docs/?.md", "without '..' or wildcards")]
    [InlineData("**/docs/x.md", "'**/' takes one name")]
    [InlineData("a\nb", "without control characters")]
    public void An_entry_that_cannot_name_a_path_of_a_kb_is_refused_saying_why(string given, string why)
    {
        var error = Assert.Throws<ArgumentException>(() => ProtectedPathList.NormalizeEntry(given));
        Assert.Contains(why, error.Message);
    }

    [Fact]
    public void Adding_to_a_kb_on_the_defaults_keeps_the_defaults()
    {
        var list = ProtectedPathList.Edit(null, ["docs/"], [], reset: false)!;

        Assert.Equal([.. ProtectedPathList.Defaults, "docs/"], list);
    }

    [Fact]
    public void Removing_compares_without_case_or_trailing_slash()
    {
        var list = ProtectedPathList.Edit(null, [], [".GITHUB", "Index.md"], reset: false)!;

        Assert.DoesNotContain(".github/", list);
        Assert.DoesNotContain("index.md", list);
        Assert.Equal(ProtectedPathList.Defaults.Count - 2, list.Count);
    }

    [Fact]
    public void Adding_what_is_listed_changes_nothing()
    {
        Assert.Null(ProtectedPathList.Edit(null, [".GitHub/", "index.md"], [], reset: false));
        Assert.Equal(["docs/"], ProtectedPathList.Edit(["docs/"], ["DOCS", "docs/"], [], reset: false));
    }

    [Fact]
    public void An_edit_back_to_the_defaults_is_stored_as_the_defaults()
    {
        var custom = ProtectedPathList.Edit(null, ["docs/"], [], reset: false);

        Assert.Null(ProtectedPathList.Edit(custom, [], ["docs/"], reset: false));
        Assert.Null(ProtectedPathList.Edit(["docs/"], [], [], reset: true));
        Assert.Equal([.. ProtectedPathList.Defaults, "docs/"], ProtectedPathList.Edit(["other/"], ["docs/"], [], reset: true));
    }

    [Fact]
    public void Removing_every_entry_protects_nothing_rather_than_the_defaults()
    {
        Assert.Equal([], ProtectedPathList.Edit(["docs/"], [], ["docs/"], reset: false));
    }

    [Fact]
    public void Removing_what_is_not_listed_is_refused_and_shows_the_list()
    {
        var error = Assert.Throws<ArgumentException>(() => ProtectedPathList.Edit(["docs/"], [], [".gitmodule"], reset: false));

        Assert.Equal("'.gitmodule' is not in the KB's protected paths (docs/).", error.Message);
    }

    [Fact]
    public void A_path_both_added_and_removed_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ProtectedPathList.Edit(null, ["docs/"], ["DOCS"], reset: false));
    }

    [Fact]
    public void A_list_has_a_bounded_length()
    {
        var many = Enumerable.Range(0, ProtectedPathList.MaxEntries + 1).Select(i => $"p{i}.md");

        Assert.Throws<ArgumentException>(() => ProtectedPathList.Edit([], many, [], reset: false));
    }
}

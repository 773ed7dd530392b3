using KbSync.Contracts;
using static KbSync.UnitTests.Agents.AgentRun;

namespace KbSync.UnitTests.Agents;

public sealed class FilesAgentEditTests
{
    private const string A = "alpha\nBeta line with a todo\nthe end\n";

    [Fact]
    public void Edit_file_replaces_a_text_that_occurs_once()
    {
        var clone = SampleKb();

        var (result, changes) = Run(clone, new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Find: "Beta line", Replace: "Gamma row"));

        Assert.Equal(["topics/inbox/a.md=alpha\nGamma row with a todo\nthe end\n"], Describe(changes));
        Assert.Equal(["topics/inbox/a.md"], result.Edited);
        Assert.Empty(result.Created);
        Assert.Equal("Ran 1 operation(s): 0 created, 1 edited, 0 deleted, 0 moved.", result.Summary);
        Assert.Equal("alpha\nGamma row with a todo\nthe end\n", clone.ReadText("topics/inbox/a.md"));
    }

    [Fact]
    public void Edit_file_replaces_by_default_and_with_nothing_when_no_replacement_is_given()
    {
        var (_, changes) = Run(SampleKb(), new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Find: " with a todo"));

        Assert.Equal(["topics/inbox/a.md=alpha\nBeta line\nthe end\n"], Describe(changes));
    }

    [Fact]
    public void Edit_file_replace_matches_case_sensitively()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Mode: "replace", Find: "ALPHA", Replace: "x"));

        Assert.Contains("Operation 1 (edit_file) failed: the text to replace is not in topics/inbox/a.md.", failure.Message);
    }

    [Fact]
    public void Edit_file_replace_of_a_text_that_is_not_there_fails()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Find: "omega", Replace: "x"));

        Assert.Contains("the text to replace is not in topics/inbox/a.md", failure.Message);
    }

    [Fact]
    public void Edit_file_replace_of_a_text_found_twice_fails()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Find: "th", Replace: "TH"));

        Assert.Contains("Operation 1 (edit_file) failed: the text to replace occurs more than once in topics/inbox/a.md", failure.Message);
    }

    [Fact]
    public void Edit_file_replace_of_a_text_whose_occurrences_overlap_fails()
    {
        var clone = new InMemoryKbClone().WithFile("x.md", "aaa");

        var failure = Fails(clone, new FileOperation(FileOps.EditFile, Path: "x.md", Find: "aa", Replace: "b"));

        Assert.Contains("more than once", failure.Message);
    }

    [Fact]
    public void Edit_file_replace_without_a_text_to_find_fails()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Replace: "x"));

        Assert.Contains("'find' is required", failure.Message);
    }

    [Fact]
    public void Edit_file_with_a_stale_expected_hash_fails()
    {
        var stale = Sha256("what it was before\n");

        var failure = Fails(SampleKb(), new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Mode: "set", Content: "new", ExpectedHash: stale));

        Assert.Contains("topics/inbox/a.md changed since it was read", failure.Message);
        Assert.Contains(stale, failure.Message);
        Assert.Contains(Sha256(A), failure.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Edit_file_with_the_current_hash_succeeds(bool upperCase)
    {
        var hash = upperCase ? Sha256(A).ToUpperInvariant() : Sha256(A);

        var (result, changes) = Run(SampleKb(), new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Find: "alpha", Replace: "ALPHA", ExpectedHash: " " + hash + " "));

        Assert.Equal(["topics/inbox/a.md=ALPHA\nBeta line with a todo\nthe end\n"], Describe(changes));
        Assert.Equal(["topics/inbox/a.md"], result.Edited);
    }

    [Fact]
    public void Edit_file_accepts_the_hash_an_earlier_read_file_returned()
    {
        var clone = SampleKb();
        var (read, _) = Run(clone, new FileOperation(FileOps.ReadFile, Path: "notes/c1.md"));
        var hash = Assert.Single(read.Outputs).Sha256;

        var (_, changes) = Run(clone, new FileOperation(FileOps.EditFile, Path: "notes/c1.md", Mode: "append", Content: "two\n", ExpectedHash: hash));

        Assert.Equal(["notes/c1.md=one\ntwo\n"], Describe(changes));
    }

    [Fact]
    public void Edit_file_fails_when_an_earlier_operation_changed_the_file_since_the_hash()
    {
        var failure = Fails(
            SampleKb(),
            new FileOperation(FileOps.EditFile, Path: "notes/c1.md", Mode: "append", Content: "two\n"),
            new FileOperation(FileOps.EditFile, Path: "notes/c1.md", Mode: "set", Content: "x", ExpectedHash: Sha256("one\n")));

        Assert.Contains("Operation 2 (edit_file) failed: notes/c1.md changed since it was read", failure.Message);
    }

    [Fact]
    public void Edit_file_append_adds_the_content_at_the_end()
    {
        var (result, changes) = Run(SampleKb(), new FileOperation(FileOps.EditFile, Path: "notes/c1.md", Mode: "append", Content: "two\n"));

        Assert.Equal(["notes/c1.md=one\ntwo\n"], Describe(changes));
        Assert.Equal(["notes/c1.md"], result.Edited);
    }

    [Fact]
    public void Edit_file_set_replaces_the_whole_content()
    {
        var (result, changes) = Run(SampleKb(), new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Mode: " SET ", Content: "all new\n"));

        Assert.Equal(["topics/inbox/a.md=all new\n"], Describe(changes));
        Assert.Equal(["topics/inbox/a.md"], result.Edited);
    }

    [Fact]
    public void Edit_file_set_without_content_empties_the_file()
    {
        var (_, changes) = Run(SampleKb(), new FileOperation(FileOps.EditFile, Path: "topics/inbox/a.md", Mode: "set"));

        Assert.Equal(["topics/inbox/a.md="], Describe(changes));
    }

    [Fact]
    public void Edit_file_with_an_unknown_mode_fails()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.EditFile, Path: "notes/c1.md", Mode: "prepend", Content: "x"));

        Assert.Contains("'prepend' is not an edit mode; use replace, append or set", failure.Message);
    }

    [Theory]
    [InlineData("missing.md")]
    [InlineData("notes")]
    public void Edit_file_of_something_that_is_not_a_file_fails(string path)
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.EditFile, Path: path, Mode: "append", Content: "x"));

        Assert.Contains($"Operation 1 (edit_file) failed: there is no file {path}.", failure.Message);
    }

    [Fact]
    public void Edits_of_one_file_in_one_task_build_on_each_other()
    {
        var (result, changes) = Run(
            SampleKb(),
            new FileOperation(FileOps.EditFile, Path: "notes/c1.md", Mode: "set", Content: "a\n"),
            new FileOperation(FileOps.EditFile, Path: "notes/c1.md", Mode: "append", Content: "b\n"),
            new FileOperation(FileOps.EditFile, Path: "notes/c1.md", Find: "a", Replace: "A"));

        Assert.Equal(["notes/c1.md=A\nb\n"], Describe(changes));
        Assert.Equal(["notes/c1.md"], result.Edited);
    }
}

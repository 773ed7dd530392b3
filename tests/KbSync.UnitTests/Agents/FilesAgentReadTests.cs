using System.Text;
using KbSync.Contracts;
using KbSync.KbWorker.Agents;
using static KbSync.UnitTests.Agents.AgentRun;

namespace KbSync.UnitTests.Agents;

public sealed class FilesAgentReadTests
{
    [Fact]
    public void Read_file_returns_the_content_and_its_sha256_and_changes_nothing()
    {
        var clone = SampleKb();

        var (result, changes) = Run(clone, new FileOperation(FileOps.ReadFile, Path: "topics/inbox/a.md"));

        var output = Assert.Single(result.Outputs);
        Assert.Equal(1, output.Index);
        Assert.Equal(FileOps.ReadFile, output.Op);
        Assert.Equal("alpha\nBeta line with a todo\nthe end\n", output.Output);
        Assert.Equal(Sha256("alpha\nBeta line with a todo\nthe end\n"), output.Sha256);
        Assert.Matches("^[0-9a-f]{64}$", output.Sha256);
        Assert.Empty(changes);
        Assert.Empty(result.Created);
        Assert.Empty(result.Edited);
        Assert.Empty(result.Deleted);
        Assert.Empty(result.Moved);
        Assert.Equal("Ran 1 operation(s); nothing changed.", result.Summary);
        Assert.Equal(0, clone.Commits);
    }

    [Fact]
    public void Read_file_of_a_binary_file_returns_text_the_history_can_store_and_the_hash_of_the_real_content()
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.ReadFile, Path: "data/blob.bin"));

        var output = Assert.Single(result.Outputs);
        Assert.Equal("TODO\ufffdbinary", output.Output);
        Assert.Equal(Sha256([.. "TODO"u8, 0, .. "binary"u8]), output.Sha256);
    }

    [Fact]
    public void An_operation_named_with_a_nul_fails_with_a_message_the_history_can_store()
    {
        var failure = Fails(SampleKb(), new FileOperation("read\0file", Path: "README.md"));

        Assert.StartsWith("Operation 1 (read\ufffdfile) failed: 'read\ufffdfile' is not an operation", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\0', failure.Message);
    }

    [Fact]
    public void Read_file_normalizes_the_path_it_is_given()
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.ReadFile, Path: "./topics\\inbox//b.md"));

        Assert.Equal("beta\nTODO: gamma\n", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Read_file_sees_what_earlier_operations_of_the_task_wrote()
    {
        var (result, _) = Run(
            SampleKb(),
            new FileOperation(FileOps.CreateFile, Path: "new.md", Content: "fresh"),
            new FileOperation(FileOps.ReadFile, Path: "new.md"));

        var output = Assert.Single(result.Outputs);
        Assert.Equal(2, output.Index);
        Assert.Equal("fresh", output.Output);
        Assert.Equal(Sha256("fresh"), output.Sha256);
    }

    [Fact]
    public void Read_file_of_a_missing_file_fails()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.ReadFile, Path: "missing.md"));

        Assert.Contains("Operation 1 (read_file) failed: there is no file missing.md.", failure.Message);
    }

    [Fact]
    public void Read_file_of_a_folder_fails()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.ReadFile, Path: "topics"));

        Assert.Contains("there is no file topics", failure.Message);
    }

    [Fact]
    public void Read_file_cuts_a_huge_output_but_hashes_the_whole_content()
    {
        var big = new string('x', FilesAgent.MaxOutputChars + 10);
        var clone = SampleKb().WithFile("big.md", big);

        var output = Assert.Single(Run(clone, new FileOperation(FileOps.ReadFile, Path: "big.md")).Result.Outputs);

        Assert.StartsWith(new string('x', FilesAgent.MaxOutputChars) + "\n", output.Output, StringComparison.Ordinal);
        Assert.EndsWith($"(cut at {FilesAgent.MaxOutputChars} characters)", output.Output, StringComparison.Ordinal);
        Assert.Equal(Sha256(big), output.Sha256);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("/")]
    public void List_directory_of_the_root_lists_its_files_and_folders(string? path)
    {
        var (result, changes) = Run(SampleKb(), new FileOperation(FileOps.ListDirectory, Path: path));

        var output = Assert.Single(result.Outputs);
        Assert.Equal(FileOps.ListDirectory, output.Op);
        Assert.Equal("README.md\ndata/\nnotes/\ntopics/", output.Output);
        Assert.Null(output.Sha256);
        Assert.Empty(changes);
    }

    [Theory]
    [InlineData("topics")]
    [InlineData("topics/")]
    [InlineData("./topics")]
    public void List_directory_lists_a_folders_files_and_sub_folders_once_each(string path)
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.ListDirectory, Path: path));

        Assert.Equal("archive/\ninbox-old/\ninbox/\ntop.md\nx.txt", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void List_directory_shows_the_tasks_own_changes()
    {
        var (result, _) = Run(
            SampleKb(),
            new FileOperation(FileOps.DeleteFile, Path: "topics/inbox/a.md"),
            new FileOperation(FileOps.CreateFile, Path: "topics/inbox/c.md", Content: "c"),
            new FileOperation(FileOps.ListDirectory, Path: "topics/inbox"));

        Assert.Equal("b.md\nc.md", Assert.Single(result.Outputs).Output);
    }

    [Theory]
    [InlineData("nowhere")]
    [InlineData("README.md")]
    [InlineData("topics/in")]
    public void List_directory_of_something_that_is_not_a_folder_fails(string path)
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.ListDirectory, Path: path));

        Assert.Contains($"Operation 1 (list_directory) failed: there is no folder {path}.", failure.Message);
    }

    [Theory]
    [InlineData("topics/**/*.md", "topics/archive/2025/old.md\ntopics/inbox-old/z.md\ntopics/inbox/a.md\ntopics/inbox/b.md\ntopics/top.md")]
    [InlineData("*.md", "README.md\nnotes/c1.md\nnotes/c22.md\ntopics/archive/2025/old.md\ntopics/inbox-old/z.md\ntopics/inbox/a.md\ntopics/inbox/b.md\ntopics/top.md")]
    [InlineData("topics/*", "topics/top.md\ntopics/x.txt")]
    [InlineData("notes/c?.md", "notes/c1.md")]
    [InlineData("notes/c??.md", "notes/c22.md")]
    [InlineData("?.md", "topics/inbox-old/z.md\ntopics/inbox/a.md\ntopics/inbox/b.md")]
    [InlineData("**/*.txt", "topics/x.txt")]
    [InlineData("*.pdf", "")]
    public void Search_files_lists_the_paths_matching_a_glob(string pattern, string expected)
    {
        var (result, changes) = Run(SampleKb(), new FileOperation(FileOps.SearchFiles, Pattern: pattern));

        var output = Assert.Single(result.Outputs);
        Assert.Equal(FileOps.SearchFiles, output.Op);
        Assert.Equal(expected, output.Output);
        Assert.Empty(changes);
    }

    [Fact]
    public void Search_files_takes_the_pattern_from_the_path_when_no_pattern_is_given()
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.SearchFiles, Path: "notes/*.md"));

        Assert.Equal("notes/c1.md\nnotes/c22.md", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_files_returns_at_most_max_results_paths()
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.SearchFiles, Pattern: "*.md", MaxResults: 2));

        Assert.Equal("README.md\nnotes/c1.md", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_files_without_a_pattern_fails()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.SearchFiles));

        Assert.Contains("Operation 1 (search_files) failed: 'pattern' is required.", failure.Message);
    }

    [Fact]
    public void Search_content_finds_plain_text_case_insensitively_as_path_line_text()
    {
        var (result, changes) = Run(SampleKb(), new FileOperation(FileOps.SearchContent, Pattern: "todo"));

        var output = Assert.Single(result.Outputs);
        Assert.Equal(FileOps.SearchContent, output.Op);
        Assert.Equal(
            "topics/archive/2025/old.md:1: old TODO\n" +
            "topics/inbox/a.md:2: Beta line with a todo\n" +
            "topics/inbox/b.md:2: TODO: gamma",
            output.Output);
        Assert.Empty(changes);
    }

    [Fact]
    public void Search_content_takes_the_text_from_find_when_no_pattern_is_given()
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.SearchContent, Find: "GAMMA"));

        Assert.Equal("topics/inbox/b.md:2: TODO: gamma", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_content_treats_a_plain_pattern_literally()
    {
        var clone = SampleKb().WithFile("regexy.md", "a+b\naab\n");

        var (result, _) = Run(clone, new FileOperation(FileOps.SearchContent, Pattern: "a+b"));

        Assert.Equal("regexy.md:1: a+b", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_content_with_regex_matches_case_sensitively()
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.SearchContent, Pattern: "^TODO|todo$", Regex: true));

        Assert.Equal(
            "topics/inbox/a.md:2: Beta line with a todo\n" +
            "topics/inbox/b.md:2: TODO: gamma",
            Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_content_only_searches_under_the_given_folder()
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.SearchContent, Path: "topics/inbox", Pattern: "todo"));

        Assert.Equal(
            "topics/inbox/a.md:2: Beta line with a todo\n" +
            "topics/inbox/b.md:2: TODO: gamma",
            Assert.Single(result.Outputs).Output);
    }

    [Theory]
    [InlineData(1, "topics/archive/2025/old.md:1: old TODO")]
    [InlineData(2, "topics/archive/2025/old.md:1: old TODO\ntopics/inbox/a.md:2: Beta line with a todo")]
    [InlineData(0, "topics/archive/2025/old.md:1: old TODO")]
    [InlineData(-5, "topics/archive/2025/old.md:1: old TODO")]
    public void Search_content_returns_at_most_max_results_lines(int maxResults, string expected)
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.SearchContent, Pattern: "todo", MaxResults: maxResults));

        Assert.Equal(expected, Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_content_bounds_the_hits_within_one_file_too()
    {
        var clone = new InMemoryKbClone().WithFile("many.md", string.Concat(Enumerable.Repeat("hit\n", 50)));

        var (result, _) = Run(clone, new FileOperation(FileOps.SearchContent, Pattern: "hit", MaxResults: 3));

        Assert.Equal("many.md:1: hit\nmany.md:2: hit\nmany.md:3: hit", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_content_returns_the_default_number_of_hits_when_not_told()
    {
        var clone = new InMemoryKbClone().WithFile("many.md", string.Concat(Enumerable.Repeat("hit\n", FilesAgent.DefaultMaxResults + 20)));

        var (result, _) = Run(clone, new FileOperation(FileOps.SearchContent, Pattern: "hit"));

        Assert.Equal(FilesAgent.DefaultMaxResults, Assert.Single(result.Outputs).Output.Split('\n').Length);
    }

    [Fact]
    public void Search_content_skips_binary_files()
    {
        var (result, _) = Run(SampleKb(), new FileOperation(FileOps.SearchContent, Path: "data", Pattern: "binary"));

        Assert.Equal("", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_content_skips_files_larger_than_the_limit()
    {
        var big = new string('x', FilesAgent.MaxSearchedFileBytes) + "\nneedle\n";
        var clone = new InMemoryKbClone().WithFile("big.md", big).WithFile("small.md", "needle\n");

        var (result, _) = Run(clone, new FileOperation(FileOps.SearchContent, Pattern: "needle"));

        Assert.Equal("small.md:1: needle", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_content_drops_the_carriage_return_of_crlf_lines()
    {
        var clone = new InMemoryKbClone().WithFile("crlf.md", "first\r\nsecond line\r\n");

        var (result, _) = Run(clone, new FileOperation(FileOps.SearchContent, Pattern: "second"));

        Assert.Equal("crlf.md:2: second line", Assert.Single(result.Outputs).Output);
    }

    /// <summary>
    /// BUG (src/KbWorker/Agents/FilesAgent.cs, SearchContent): lines are split on '\n' only and the
    /// regex runs on the line with its '\r' still on it, so '$' never matches at the end of a CRLF
    /// line (the output line has the '\r' trimmed, which makes the miss look even stranger).
    /// </summary>
    [Fact]
    public void Search_content_regex_anchors_match_at_the_end_of_crlf_lines()
    {
        var clone = new InMemoryKbClone().WithFile("crlf.md", "first\r\nsecond line\r\n");

        var (result, _) = Run(clone, new FileOperation(FileOps.SearchContent, Pattern: "line$", Regex: true));

        Assert.Equal("crlf.md:2: second line", Assert.Single(result.Outputs).Output);
    }

    [Fact]
    public void Search_content_with_an_invalid_regex_fails()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.SearchContent, Pattern: "(unclosed", Regex: true));

        Assert.Contains("Operation 1 (search_content) failed:", failure.Message);
    }

    [Fact]
    public void Search_content_without_a_pattern_fails()
    {
        var failure = Fails(SampleKb(), new FileOperation(FileOps.SearchContent, Path: "topics"));

        Assert.Contains("'pattern' is required", failure.Message);
    }

    [Fact]
    public void Reading_operations_number_their_outputs_by_their_place_in_the_task()
    {
        var (result, _) = Run(
            SampleKb(),
            new FileOperation(FileOps.ReadFile, Path: "notes/c1.md"),
            new FileOperation(FileOps.CreateFile, Path: "n.md", Content: "n"),
            new FileOperation(FileOps.SearchFiles, Pattern: "notes/*"),
            new FileOperation(FileOps.ListDirectory, Path: "notes"),
            new FileOperation(FileOps.SearchContent, Pattern: "twenty"));

        Assert.Equal(
            ["1 read_file", "3 search_files", "4 list_directory", "5 search_content"],
            result.Outputs.Select(o => $"{o.Index} {o.Op}"));
        Assert.Equal("notes/c22.md:1: twenty-two", result.Outputs[3].Output);
        Assert.Equal(Encoding.UTF8.GetBytes("one\n"), Encoding.UTF8.GetBytes(result.Outputs[0].Output));
    }
}

using System.Text;
using KbSync.KbWorker.Agents.Protection;

namespace KbSync.UnitTests.Agents.Protection;

/// <summary>
/// What <c>git fsck</c> refuses in a <c>.gitmodules</c> or <c>.gitattributes</c>, table-driven. The URL and name
/// cases are git's own (t/t7450-bad-git-dotfiles.sh); <c>GitmodulesAgreeWithGitFsckTests</c> (integration) runs
/// the same table through the real <c>git fsck --strict</c>.
/// </summary>
public sealed class GitFsckContentTests
{
    /// <summary>A .gitmodules, and the fsck message id it is refused for (null: accepted). Shared with the integration test against real git.</summary>
    public static TheoryData<string, string?> Gitmodules => new()
    {
        { "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n", null },
        { "[submodule \"lib\"]\n\tpath = lib\n\turl = ./bar/baz/foo.git\n\tbranch = main\n\tupdate = rebase\n", null },
        { "[submodule \"lib\"]\n\turl = http://example.com:80/deeper/foo.git\n", null },
        { "[submodule \"lib\"]\n\turl = git@example.com:lib.git\n", null },
        { "[submodule \"valid/with/paths\"]\n\turl = ../sibling.git\n", null },
        { "[submodule \"lib\"]\n\tpath = lib\n\turl = --upload-pack=touch /tmp/pwned\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = \"--upload-pack=touch /tmp/pwned\"\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = -a./foo\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = ../../..//test/foo.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = ../../../../../:localhost:8080/foo.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = ..\\\\../.\\\\../:example.com/foo.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = ./%0ahost=example.com/foo.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = https://one.example.com/evil?%0ahost=two.example.com\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = https:///example.com/foo.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = http://example.com:test/foo.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = https::example.com/foo.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = http:::example.com/foo.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = https://example.com:65536/x.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = https://example.com/a/../../x.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = https://example.com/%zz.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\turl = git://example.com/a\\n.git\n", "gitmodulesUrl" },
        { "[submodule \"lib\"]\n\tpath = -lib\n\turl = ./lib\n", "gitmodulesPath" },
        { "[submodule \"lib\"]\n\tupdate = !touch /tmp/pwned\n", "gitmodulesUpdate" },
        { "[submodule \"../foo\"]\n\turl = ./x\n", "gitmodulesName" },
        { "[submodule \"/../foo\"]\n\turl = ./x\n", "gitmodulesName" },
        { "[submodule \"..\\\\foo\"]\n\turl = ./x\n", "gitmodulesName" },
        { "[submodule \"foo/..\"]\n\turl = ./x\n", "gitmodulesName" },
        { "[submodule \"foo\\\\..\\\\\"]\n\turl = ./x\n", "gitmodulesName" },
        { "[submodule \"foo/../bar\"]\n\turl = ./x\n", "gitmodulesName" },
        { "[submodule \"\"]\n\turl = ./x\n", "gitmodulesName" },
        { "[submodule \"lib\"]\n\turl = ./lib\n[core]\n\tsshCommand = touch /tmp/pwned\n", null },
        { "[submodule \"lib\"]\n\turl = ./lib\n[submodule \"evil\"\n\turl = --upload-pack=x\n", "gitmodulesParse" },
    };

    [Theory]
    [MemberData(nameof(Gitmodules))]
    public void A_gitmodules_is_refused_for_what_git_fsck_refuses(string text, string? refusedFor)
    {
        var problems = GitFsckContent.Problems(".gitmodules", Encoding.UTF8.GetBytes(text));

        if (refusedFor is null)
        {
            Assert.Empty(problems);
        }
        else
        {
            Assert.Contains(problems, p => p.StartsWith(refusedFor + ":", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_refusal_names_the_check_the_value_and_the_line()
    {
        var problem = Assert.Single(GitFsckContent.Problems("topics/GITMOD~1", "[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n"u8.ToArray()));

        Assert.Equal("gitmodulesUrl: disallowed submodule url: --upload-pack=touch /tmp/pwned (line 3)", problem);
    }

    [Fact]
    public void Entries_before_a_parse_error_are_checked_as_git_does_and_the_error_is_refused_too()
    {
        var problems = GitFsckContent.Problems(".gitmodules", "[submodule \"x\"]\nurl = -x\n\"garbage"u8.ToArray());

        Assert.Equal(["gitmodulesUrl: disallowed submodule url: -x (line 2)", "gitmodulesParse: bad config line 3 (git reads no further)"], problems);
    }

    [Fact]
    public void A_nul_byte_is_refused_since_git_would_cut_the_value_there()
    {
        var problems = GitFsckContent.Problems(".gitmodules", [.. "[submodule \"x\"]\nurl = ./ok"u8, 0, .. "\n[submodule \"y\"]\nurl = -x\n"u8]);

        Assert.StartsWith("gitmodulesParse: a NUL byte at offset", Assert.Single(problems));
    }

    [Fact]
    public void A_byte_git_reads_as_the_end_of_the_file_is_refused()
    {
        var problems = GitFsckContent.Problems(".gitmodules", [.. "[submodule \"x\"]\nurl = \"https://h/%4"u8, 0xFF, .. "1\"\n"u8]);

        Assert.StartsWith("gitmodulesParse: a byte 0xFF at offset", Assert.Single(problems));
    }

    [Theory]
    [InlineData("topics/readme.md")]
    [InlineData("gitmodules")]
    [InlineData(".gitmodules.md")]
    public void Other_files_are_not_read_as_gitmodules(string path)
    {
        Assert.Empty(GitFsckContent.Problems(path, "[submodule \"x\"]\nurl = --upload-pack=x\n"u8.ToArray()));
    }

    [Fact]
    public void A_gitattributes_line_of_2048_bytes_is_refused_and_one_of_2047_is_not()
    {
        var longest = Encoding.ASCII.GetBytes("*.md " + new string('x', GitFsckContent.MaxAttributesLine - 1 - 5) + "\n");
        var tooLong = Encoding.ASCII.GetBytes("*.md " + new string('x', GitFsckContent.MaxAttributesLine - 5) + "\n");

        Assert.Empty(GitFsckContent.Problems("topics/.gitattributes", longest));
        Assert.StartsWith("gitattributesLineLength:", Assert.Single(GitFsckContent.Problems("topics/.GitAttributes", tooLong)));
    }

    [Fact]
    public void A_gitattributes_is_read_like_fsck_up_to_its_first_nul()
    {
        byte[] content = [.. "*.md text\n"u8, 0, .. Encoding.ASCII.GetBytes(new string('x', 5000))];

        Assert.Empty(GitFsckContent.Problems(".gitattributes", content));
    }
}

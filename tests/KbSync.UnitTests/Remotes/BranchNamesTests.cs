using System.Diagnostics;
using KbSync.Persistence.KnowledgeBases;
using LibGit2Sharp;

namespace KbSync.UnitTests.Remotes;

/// <summary>
/// The registry's branch rule is git's: <c>git check-ref-format</c> answers the same for every name
/// here, and libgit2 too except where it is laxer than git (it lets DEL through).
/// </summary>
public sealed class BranchNamesTests
{
    public static TheoryData<string> Names =>
    [
        "main", "kb/notes", "feature/a-b_c.d", "v1.0", "ü-notes", "a@b", "@x",
        "", "/escape", "escape/", "a//b", "a..b", ".hidden", "a/.hidden", "a.lock", "a/b.lock", "a.", "a/b.",
        "a b", "a\tb", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b", "a@{1}", "a\u007f", "a\u0001b", "lock.lock/x",
    ];

    [Theory]
    [MemberData(nameof(Names))]
    public void The_rule_answers_as_git_check_ref_format_does(string branch)
    {
        Assert.Equal(GitAccepts("refs/heads/" + branch), BranchNames.Problem(branch) is null);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Libgit2_accepts_no_name_the_rule_refuses_and_refuses_none_it_accepts_but_DEL(string branch)
    {
        var libgit2 = Reference.IsValidName("refs/heads/" + branch);

        Assert.Equal(branch != "a\u007f" && libgit2, BranchNames.Problem(branch) is null);
    }

    [Theory]
    [InlineData("HEAD")]
    [InlineData("@")]
    [InlineData("-b")]
    public void Names_git_branch_refuses_are_refused_too(string branch)
    {
        Assert.NotNull(BranchNames.Problem(branch));
        Assert.Throws<ArgumentException>(() => BranchNames.Validate(branch));
    }

    private static bool GitAccepts(string refName)
    {
        using var git = Process.Start(new ProcessStartInfo("git") { ArgumentList = { "check-ref-format", refName }, RedirectStandardError = true })!;
        git.WaitForExit();
        return git.ExitCode == 0;
    }
}

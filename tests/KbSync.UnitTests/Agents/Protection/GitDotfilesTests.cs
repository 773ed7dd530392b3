using KbSync.KbWorker.Agents.Protection;

namespace KbSync.UnitTests.Agents.Protection;

/// <summary>The names git takes for its dotfiles: git's own cases for <c>is_dotgitmodules</c> (t/t0060-path-utils.sh).</summary>
public sealed class GitDotfilesTests
{
    [Theory]
    [InlineData(".gitmodules")]
    [InlineData(".git\u200Cmodules")]
    [InlineData(".Gitmodules")]
    [InlineData(".gitmoduleS")]
    [InlineData(".gitmodules ")]
    [InlineData(".gitmodules.")]
    [InlineData(".gitmodules. ")]
    [InlineData(".gitmodules  .")]
    [InlineData(".Gitmodules..")]
    [InlineData("GITMOD~1")]
    [InlineData("gitmod~1")]
    [InlineData("GITMOD~2")]
    [InlineData("gitmod~3")]
    [InlineData("GITMOD~4")]
    [InlineData("GITMOD~1 ")]
    [InlineData("gitmod~2.")]
    [InlineData("gitmod~4 . ")]
    [InlineData("GI7EBA~1")]
    [InlineData("gi7eba~9")]
    [InlineData("GI7EB~10")]
    [InlineData("GI7EB~99")]
    [InlineData("GI7E~100")]
    [InlineData("GI7E~999")]
    [InlineData("~1000000")]
    [InlineData("~9999999")]
    [InlineData(".gitmodules:$DATA")]
    [InlineData("gitmod~4 . :$DATA")]
    public void Git_reads_these_names_as_its_gitmodules(string name)
    {
        Assert.Equal(GitDotfiles.Gitmodules, GitDotfiles.Canonical(name));
        Assert.True(GitDotfiles.IsGitmodules("topics/deep/" + name));
    }

    [Theory]
    [InlineData(".gitmodules x")]
    [InlineData(".gitmodules .x")]
    [InlineData(" .gitmodules")]
    [InlineData("..gitmodules")]
    [InlineData("gitmodules")]
    [InlineData(".gitmodule")]
    [InlineData(".gitmodules x ")]
    [InlineData("GI7EBA~")]
    [InlineData("GI7EBA~0")]
    [InlineData("GI7EBA~~1")]
    [InlineData("GI7EBA~X")]
    [InlineData("Gx7EBA~1")]
    [InlineData("GI7EBX~1")]
    [InlineData("GI7EB~1")]
    [InlineData("GI7EB~01")]
    [InlineData("GI7EB~1X")]
    [InlineData(".gitmodules,:$DATA")]
    [InlineData(".gitmodul\u0131s")] // a dotless i is not an ASCII letter to git
    public void Git_does_not_read_these_names_as_its_gitmodules(string name)
    {
        Assert.NotEqual(GitDotfiles.Gitmodules, GitDotfiles.Canonical(name));
    }

    [Theory]
    [InlineData(".GitAttributes", GitDotfiles.Gitattributes)]
    [InlineData("GITATT~1", GitDotfiles.Gitattributes)]
    [InlineData("gi7d29~1", GitDotfiles.Gitattributes)]
    [InlineData(".GITIGNORE", GitDotfiles.Gitignore)]
    [InlineData("gitign~2", GitDotfiles.Gitignore)]
    [InlineData("gi250a~1", GitDotfiles.Gitignore)]
    [InlineData(".MailMap", GitDotfiles.Mailmap)]
    [InlineData("mailma~1", GitDotfiles.Mailmap)]
    [InlineData("maba30~1", GitDotfiles.Mailmap)]
    [InlineData(".gitkeep", null)]
    [InlineData(".github", null)]
    [InlineData("index.md", null)]
    public void The_other_dotfiles_have_their_aliases_too(string name, string? canonical)
    {
        Assert.Equal(canonical, GitDotfiles.Canonical(name));
    }
}

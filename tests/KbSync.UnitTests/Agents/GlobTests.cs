using KbSync.KbWorker.Agents;

namespace KbSync.UnitTests.Agents;

public sealed class GlobTests
{
    [Theory]
    [InlineData("*.md", "a.md")]
    [InlineData("*.md", "topics/inbox/a.md")]
    [InlineData("*.md", ".md")]
    [InlineData("topics/*.md", "topics/a.md")]
    [InlineData("topics/**/*.md", "topics/a.md")]
    [InlineData("topics/**/*.md", "topics/inbox/a.md")]
    [InlineData("topics/**/*.md", "topics/archive/2025/old.md")]
    [InlineData("topics/**", "topics/a/b/c.txt")]
    [InlineData("**", "any/path/at/all")]
    [InlineData("**/inbox/*", "topics/inbox/a.md")]
    [InlineData("**/inbox/*", "inbox/a.md")]
    [InlineData("?.md", "a.md")]
    [InlineData("notes/c?.md", "notes/c1.md")]
    [InlineData("a+b (1).md", "x/a+b (1).md")]
    [InlineData("[draft]*.md", "[draft] plan.md")]
    [InlineData("/topics/*.md", "topics/a.md")]
    [InlineData("topics\\*.md", "topics/a.md")]
    [InlineData("  topics/*.md  ", "topics/a.md")]
    [InlineData("README.md", "README.md")]
    public void A_glob_matches(string pattern, string path)
    {
        Assert.Matches(Glob.ToRegex(pattern), path);
    }

    [Theory]
    [InlineData("*.md", "a.mdx")]
    [InlineData("*.md", "a.txt")]
    [InlineData("*.md", "a_md")]
    [InlineData("topics/*.md", "topics/inbox/a.md")]
    [InlineData("topics/*.md", "other/topics/a.md")]
    [InlineData("topics/**/*.md", "other/a.md")]
    [InlineData("topics/**/*.md", "topicsx/a.md")]
    [InlineData("?.md", "ab.md")]
    [InlineData("?.md", ".md")]
    [InlineData("a?b.md", "a/b.md")]
    [InlineData("notes/c?.md", "notes/c22.md")]
    [InlineData("a+b (1).md", "aab (1).md")]
    [InlineData("[draft]*.md", "d.md")]
    [InlineData("README.md", "xREADME.md")]
    [InlineData("README.md", "readme.md")]
    [InlineData("topics/a.md", "x/topics/a.md")]
    public void A_glob_does_not_match(string pattern, string path)
    {
        Assert.DoesNotMatch(Glob.ToRegex(pattern), path);
    }

    [Theory]
    [InlineData("*.md", "^(?:.*/)?[^/]*\\.md$")]
    [InlineData("topics/**/*.md", "^topics/(?:.*/)?[^/]*\\.md$")]
    [InlineData("topics/**", "^topics/.*$")]
    [InlineData("a?c", "^(?:.*/)?a[^/]c$")]
    public void A_glob_becomes_an_anchored_regex(string pattern, string regex)
    {
        Assert.Equal(regex, Glob.ToRegex(pattern).ToString());
    }

    [Fact]
    public void A_glob_regex_has_a_match_timeout()
    {
        Assert.Equal(TimeSpan.FromSeconds(1), Glob.ToRegex("**/*.md").MatchTimeout);
    }
}

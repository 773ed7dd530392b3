using System.Text;
using KbSync.KbWorker.Agents.Protection;

namespace KbSync.UnitTests.Agents.Protection;

/// <summary>git-config syntax read the way git reads it (config.c), where a naive reader would see something else.</summary>
public sealed class GitConfigReaderTests
{
    private static GitConfigFile Read(string text) => GitConfigReader.Read(Encoding.UTF8.GetBytes(text));

    private static string Entries(GitConfigFile file) => string.Join(" | ", file.Entries.Select(e => $"{e.Name}={e.Value ?? "(none)"}"));

    [Theory]
    [InlineData("[submodule \"a\"]\n\turl = ./a\n", "submodule.a.url=./a")]
    [InlineData("[Submodule \"A.b\"]\nURL=./a", "submodule.A.b.url=./a")]
    [InlineData("[submodule.Name]\nurl = x", "submodule.name.url=x")]
    [InlineData("[submodule   \"a\\\"b\\\\c\"]\nurl = x", "submodule.a\"b\\c.url=x")]
    [InlineData("[submodule \"a\"]\nurl = \"  padded  \" # comment", "submodule.a.url=  padded  ")]
    [InlineData("[submodule \"a\"]\nurl = one\\\ntwo", "submodule.a.url=onetwo")]
    [InlineData("[submodule \"a\"]\nurl = a\\tb\\nc", "submodule.a.url=a\tb\nc")]
    [InlineData("[submodule \"a\"]\nurl = a;b", "submodule.a.url=a")]
    [InlineData("[submodule \"a\"]\nurl = \"a;b\"", "submodule.a.url=a;b")]
    [InlineData("[submodule \"a\"]\nurl = trailing   \t", "submodule.a.url=trailing")]
    [InlineData("[submodule \"a\"]\nupdate", "submodule.a.update=(none)")]
    [InlineData("[submodule \"a\"]\r\nurl = crlf\r\n", "submodule.a.url=crlf")]
    [InlineData("\uFEFF[submodule \"a\"]\nurl = bom", "submodule.a.url=bom")]
    [InlineData("# c\n; c\n\n[a]\nb = 1\n[c \"d\"] e = 2", "a.b=1 | c.d.e=2")]
    [InlineData("[submodule \"a\"]\nurl = a\rb", "submodule.a.url=a\rb")]
    public void Entries_are_what_git_reads(string text, string entries)
    {
        var file = Read(text);

        Assert.Null(file.ErrorLine);
        Assert.Equal(entries, Entries(file));
    }

    [Theory]
    [InlineData("[submodule \"a\"]\nurl = \"unterminated\n", "", 2)]
    [InlineData("[submodule \"a\"]\nurl = bad\\q escape\n", "", 2)]
    [InlineData("[submodule \"a\"\nurl = x", "", 1)]
    [InlineData("[submodule \"a\" ]\nurl = x", "", 1)]
    [InlineData("[]\nurl = x", "", 1)]
    [InlineData("[submodule \"a\"]\nurl = ok\n1url = x\nurl = after", "submodule.a.url=ok", 3)]
    [InlineData("[sub module]", "", 1)]
    [InlineData("[submodule \"a\"]\nur_l = x", "", 2)]
    [InlineData("\u00EF\u00BBx", "", 1)]
    public void Git_stops_at_the_first_error_keeping_what_it_read(string text, string entries, int line)
    {
        var file = GitConfigReader.Read(Encoding.Latin1.GetBytes(text));

        Assert.Equal(line, file.ErrorLine);
        Assert.Equal(entries, Entries(file));
    }
}

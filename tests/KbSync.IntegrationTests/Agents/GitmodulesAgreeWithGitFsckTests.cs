using System.Text;
using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker.Agents.Protection;

namespace KbSync.IntegrationTests.Agents;

/// <summary>
/// KbSync's <c>.gitmodules</c> check against the real <c>git fsck --strict</c>: each case is committed as a
/// <c>.gitmodules</c> (or a name git reads as one) in a repository of its own, and KbSync must refuse exactly
/// what git refuses, for the same reason, except where it is documented to be stricter (a file git cannot parse,
/// which fsck only notes). The URL and name cases are git's own (t/t7450-bad-git-dotfiles.sh).
/// </summary>
public sealed class GitmodulesAgreeWithGitFsckTests
{
    /// <summary>
    /// A file name, its content, the fsck message id KbSync refuses it for (null: accepted), and which git refuses it
    /// too: null for any git, a version for git from that version on (git 2.44 checks HTTP URLs by normalizing them),
    /// "never" where only KbSync refuses (a file git cannot parse, which fsck only notes).
    /// </summary>
    /// <remarks>
    /// Not here: a byte order mark or a byte 0xFF, which git reads as the end of a blob where C's char is signed
    /// (x86) and as text elsewhere, so its verdict depends on the machine (unit tests: GitConfigReaderTests, GitFsckContentTests).
    /// </remarks>
    public static TheoryData<string, string, string?, string?> Cases => new()
    {
        { ".gitmodules", "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\tpath = lib\n\turl = ./bar/baz/foo.git\n\tupdate = rebase\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = http://example.com:80/deeper/foo.git\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = git@example.com:lib.git\n", null, null },
        { ".gitmodules", "[submodule \"valid/with/paths\"]\n\turl = ../sibling.git\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = ./lib\n[core]\n\tsshCommand = touch /tmp/pwned\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\tpath = lib\n\turl = --upload-pack=touch /tmp/pwned\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = \"--upload-pack=touch /tmp/pwned\"\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = -a./foo\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = ../../..//test/foo.git\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = ../../../../../:localhost:8080/foo.git\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = ..\\\\../.\\\\../:example.com/foo.git\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = ./%0ahost=example.com/foo.git\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https://one.example.com/evil?%0ahost=two.example.com\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https:///example.com/foo.git\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = http://example.com:test/foo.git\n", "gitmodulesUrl", "2.44" },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https::example.com/foo.git\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = http:::example.com/foo.git\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https://example.com:65536/x.git\n", "gitmodulesUrl", "2.44" },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https://example.com:0/x.git\n", "gitmodulesUrl", "2.44" },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https://example.com:00443/x.git\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https://user:p%40ss@example.com/x.git\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https://example.com/a/../../x.git\n", "gitmodulesUrl", "2.44" },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https://example.com/a/./b/../x.git\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https://example.com/%zz.git\n", "gitmodulesUrl", "2.44" },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = https://ex ample.com/x.git\n", "gitmodulesUrl", "2.44" },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = http::https://example.com/x%0a.git\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = git://example.com/a\\n.git\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = ssh://-oProxyCommand=x/y\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\tpath = -lib\n\turl = ./lib\n", "gitmodulesPath", null },
        { ".gitmodules", "[submodule \"lib\"]\n\tupdate = !touch /tmp/pwned\n", "gitmodulesUpdate", null },
        { ".gitmodules", "[submodule \"lib\"]\n\tupdate = none\n", null, null },
        { ".gitmodules", "[submodule \"../foo\"]\n\turl = ./x\n", "gitmodulesName", null },
        { ".gitmodules", "[submodule \"/../foo\"]\n\turl = ./x\n", "gitmodulesName", null },
        { ".gitmodules", "[submodule \"..\\\\foo\"]\n\turl = ./x\n", "gitmodulesName", null },
        { ".gitmodules", "[submodule \"foo/..\"]\n\turl = ./x\n", "gitmodulesName", null },
        { ".gitmodules", "[submodule \"foo\\\\..\\\\\"]\n\turl = ./x\n", "gitmodulesName", null },
        { ".gitmodules", "[submodule \"foo/../bar\"]\n\turl = ./x\n", "gitmodulesName", null },
        { ".gitmodules", "[submodule \"\"]\n\turl = ./x\n", "gitmodulesName", null },
        { ".gitmodules", "[submodule.lib]\n\turl = -x\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"] url = ./lib\n  # comment \"\n[Submodule \"b\"]\n\tURL = \" -x\"\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = ./a\\\n-x\n", null, null },
        { ".gitmodules", "[submodule \"lib\"]\r\n\turl = -x\r\n", "gitmodulesUrl", null },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = ./lib\n[submodule \"evil\"\n\turl = --upload-pack=x\n", "gitmodulesParse", "never" },
        { ".gitmodules", "[submodule \"lib\"]\n\turl = -x\n\"garbage\n", "gitmodulesUrl", null },
        { "topics/.gitmodules", "[submodule \"lib\"]\n\turl = -x\n", "gitmodulesUrl", null },
        { "GITMOD~1", "[submodule \"lib\"]\n\turl = -x\n", "gitmodulesUrl", null },
        { ".GitModules", "[submodule \"lib\"]\n\turl = -x\n", "gitmodulesUrl", null },
        { "gi7eba~1", "[submodule \"lib\"]\n\turl = -x\n", "gitmodulesUrl", null },
        { "topics/gitmodules", "[submodule \"lib\"]\n\turl = -x\n", null, null },
        { ".gitattributes", "*.md " + new string('x', 2042) + "\n", null, null },
        { ".gitattributes", "*.md " + new string('x', 2043) + "\n", "gitattributesLineLength", null },
        { "topics/.GITATTRIBUTES", "*.md " + new string('x', 3000) + "\n", "gitattributesLineLength", null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task KbSync_refuses_what_git_fsck_strict_refuses_for_the_same_reason(string path, string content, string? refusedFor, string? git)
    {
        using var folder = new TempFolder("kbsync-fsck");
        var bytes = Encoding.UTF8.GetBytes(content);
        var full = Path.Combine(folder.Path, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        await File.WriteAllBytesAsync(full, bytes);
        await GitCli.OutputAsync(folder.Path, "init", "-q");
        await GitCli.OutputAsync(folder.Path, "add", "--", path);
        await GitCli.OutputAsync(folder.Path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--no-verify", "-m", "case");

        var (code, output) = await GitCli.RunAsync(folder.Path, "fsck", "--strict", "--no-dangling");
        var kbSync = GitFsckContent.Problems(path, bytes);

        var gitRefuses = code != 0;
        var gitShouldRefuse = refusedFor is not null && git switch
        {
            null => true,
            "never" => false,
            var since => await InstalledGitAsync() >= Version.Parse(since),
        };
        Assert.True(gitRefuses == gitShouldRefuse, $"git {await InstalledGitAsync()} fsck --strict exited {code}:\n{output}");
        if (gitRefuses)
        {
            Assert.Contains(refusedFor!, output);
        }

        Assert.Equal(refusedFor is null, kbSync.Count == 0);
        if (refusedFor is not null)
        {
            Assert.Contains(kbSync, p => p.StartsWith(refusedFor + ":", StringComparison.Ordinal));
        }
    }

    private static readonly Lazy<Task<Version>> Installed = new(async () =>
    {
        var output = await GitCli.OutputAsync(null, "--version"); // "git version 2.39.5" (maybe with a platform suffix)
        var number = output.Split(' ')[2];
        return Version.Parse(string.Join('.', number.Split('.').Take(3).TakeWhile(p => p.All(char.IsAsciiDigit))));
    });

    private static Task<Version> InstalledGitAsync() => Installed.Value;
}

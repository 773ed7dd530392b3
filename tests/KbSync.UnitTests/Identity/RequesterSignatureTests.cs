using KbSync.KbWorker.Identity;
using LibGit2Sharp;

namespace KbSync.UnitTests.Identity;

/// <summary>Any requester, however named, becomes a git signature libgit2 creates and a commit can carry unchanged.</summary>
public sealed class RequesterSignatureTests : IDisposable
{
    private const string Domain = "users.kbsync.invalid";
    private static readonly System.Text.UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly DateTimeOffset When = new(2026, 12, 1, 9, 0, 0, TimeSpan.FromHours(1));
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "kbsync-signature-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            foreach (var file in Directory.EnumerateFiles(_folder, "*", SearchOption.AllDirectories))
            {
                File.SetAttributes(file, FileAttributes.Normal);
            }

            Directory.Delete(_folder, recursive: true);
        }
    }

    public static TheoryData<string> HostileRequesters =>
    [
        "'",
        "\"",
        "...",
        ". , : ; \" \\ '",
        "<",
        ">",
        "<>",
        "<<>>",
        "O'Brien <ob@x>",
        "<ob@x>",
        "Name <not an e-mail>",
        "bot <deploy>",
        "a <b@c> <d@e>",
        "x>y<z",
        "line\nbreak",
        "carriage\rreturn",
        "nul\0inside",
        "\0",
        "\t\n ",
        "",
        "  padded  ",
        "trailing dot.",
        "'quoted'",
        "\"Jane\" <jane@example.com>",
        "ob@x.",
        "@",
        "a@",
        "@b",
        "bob@ex ample.com",
        "日本語の名前",
        "😀",
        "\ud800lone",
        "lone\udc00",
        "\u2028\u2029",
        "\u0085\u00a0",
        "-dash",
        "#hash",
        "key: value",
        new string('x', 200),
        new string('<', 200),
    ];

    [Theory]
    [MemberData(nameof(HostileRequesters))]
    public void Any_requester_becomes_a_signature_libgit2_accepts_as_it_is(string requestedBy)
    {
        var (name, email) = RequesterSignature.Of(requestedBy, Domain);

        Assert.False(string.IsNullOrWhiteSpace(name));
        Assert.False(string.IsNullOrWhiteSpace(email));
        foreach (var value in new[] { name, email })
        {
            Assert.DoesNotContain(value, c => c is '<' or '>' || char.IsControl(c)); // control: line breaks and NUL among them
            Assert.Equal(value, Strict.GetString(Strict.GetBytes(value))); // valid UTF-8: no lone surrogate
            Assert.False(RequesterSignature.IsTrimmedByGit(value[0]), $"'{value}' starts with a character git trims");
            Assert.False(RequesterSignature.IsTrimmedByGit(value[^1]), $"'{value}' ends with a character git trims");
        }

        var signature = new Signature(name, email, When); // LibGit2Sharp's own checks (empty, NUL)
        Assert.Equal(name, signature.Name);
    }

    [Theory]
    [MemberData(nameof(HostileRequesters))]
    public void A_commit_authored_by_any_requester_can_be_created_and_reads_back_the_same_signature(string requestedBy)
    {
        var (name, email) = RequesterSignature.Of(requestedBy, Domain);
        Repository.Init(_folder, isBare: true);
        using var repository = new Repository(_folder);
        var tree = repository.ObjectDatabase.CreateTree(new TreeDefinition().Add("a.md", repository.ObjectDatabase.CreateBlob(new MemoryStream("a"u8.ToArray())), Mode.NonExecutableFile));

        var commit = repository.ObjectDatabase.CreateCommit(new Signature(name, email, When), new Signature("KbSync", "kbsync@worker.invalid", When), "Add note\n", tree, [], prettifyMessage: false);

        var read = repository.Lookup<Commit>(commit.Id);
        Assert.Equal(name, read.Author.Name);
        Assert.Equal(email, read.Author.Email);
        Assert.Equal(When, read.Author.When);
    }

    [Theory]
    [InlineData("alice", "alice", "alice@users.kbsync.invalid")]
    [InlineData("Jane Doe", "Jane Doe", "jane-doe@users.kbsync.invalid")]
    [InlineData("alice@example.com", "alice@example.com", "alice@example.com")]
    [InlineData("O'Brien <ob@x>", "O'Brien", "ob@x")]
    [InlineData("\"Jane\" <jane@example.com>", "Jane", "jane@example.com")]
    [InlineData("<ob@x>", "ob@x", "ob@x")]
    [InlineData("O'Brien", "O'Brien", "o-brien@users.kbsync.invalid")]
    [InlineData("bot <deploy>", "bot (deploy)", "bot-deploy@users.kbsync.invalid")]
    [InlineData(" . Dot. ", "Dot", "dot@users.kbsync.invalid")]
    [InlineData("line\nbreak", "line break", "line-break@users.kbsync.invalid")]
    [InlineData("ob@x.", "ob@x", "ob@x")]
    [InlineData("untitled", "untitled", "untitled@users.kbsync.invalid")]
    public void A_requester_keeps_a_readable_name_and_their_own_e_mail_where_they_gave_one(string requestedBy, string name, string email)
    {
        Assert.Equal((name, email), RequesterSignature.Of(requestedBy, Domain));
    }

    [Theory]
    [InlineData("'", "(')")]
    [InlineData("...", "(...)")]
    [InlineData("<<>>", "(())")]
    [InlineData("\0", "unknown")]
    [InlineData("", "unknown")]
    public void A_name_of_only_characters_git_trims_is_kept_in_parentheses_and_never_empty(string requestedBy, string name)
    {
        Assert.Equal(name, RequesterSignature.Of(requestedBy, Domain).Name);
    }

    [Fact]
    public void Requesters_without_latin_letters_get_different_e_mails_from_a_hash_of_their_name()
    {
        var first = RequesterSignature.Of("日本語の名前", Domain);
        var second = RequesterSignature.Of("другое имя", Domain);

        Assert.Equal("日本語の名前", first.Name);
        Assert.Matches("^u-[0-9a-f]{12}@users\\.kbsync\\.invalid$", first.Email);
        Assert.NotEqual(first.Email, second.Email);
        Assert.Equal(first, RequesterSignature.Of("日本語の名前", Domain));
    }

    [Fact]
    public void A_lone_surrogate_becomes_the_replacement_character()
    {
        Assert.Equal("\ufffdlone", RequesterSignature.Of("\ud800lone", Domain).Name);
    }

    [Theory]
    [InlineData("<evil>.example", "evil.example")]
    [InlineData("", RequesterSignature.FallbackDomain)]
    [InlineData(" ..", RequesterSignature.FallbackDomain)]
    public void The_configured_domain_keeps_only_what_a_domain_may_hold(string domain, string expected)
    {
        Assert.Equal($"alice@{expected}", RequesterSignature.Of("alice", domain).Email);
    }

    [Fact]
    public void The_commit_author_is_the_signature_at_the_time_of_the_request()
    {
        var author = CommitAuthorship.AuthorOf("O'Brien <ob@x>", When, Domain);

        Assert.Equal(("O'Brien", "ob@x", When), (author.Name, author.Email, author.When));
    }
}

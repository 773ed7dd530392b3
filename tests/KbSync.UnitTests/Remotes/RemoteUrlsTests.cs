using KbSync.Persistence.KnowledgeBases;

namespace KbSync.UnitTests.Remotes;

/// <summary>The forms of a remote KbSync reads, and every way a credential could ride in one, refused whatever the settings.</summary>
public sealed class RemoteUrlsTests
{
    [Theory]
    [InlineData("https://bob:s3cret@example.com/kb.git")]
    [InlineData("https://ghp_tokenAsUserName@github.com/org/kb.git")]
    [InlineData("https://bob@example.com/kb.git")]
    [InlineData("http://bob:s3cret@example.com/kb.git")]
    [InlineData("https://bob%3As3cret@example.com/kb.git")]
    [InlineData("ssh://git:s3cret@example.com/org/kb.git")]
    [InlineData("ssh://git%3As3cret@example.com/org/kb.git")]
    [InlineData("git:s3cret@example.com:org/kb.git")]
    [InlineData("bob:s3cret@example.com:kb.git")]
    public void A_remote_with_credentials_in_its_user_part_is_refused_without_repeating_them(string remote)
    {
        var refused = Assert.Throws<RemoteNotAllowedException>(() => RemoteUrls.Normalize(remote));

        Assert.Contains("must not carry credentials", refused.Message);
        Assert.DoesNotContain("s3cret", refused.Message);
        Assert.DoesNotContain("ghp_", refused.Message);
    }

    [Theory]
    [InlineData("https://example.com/kb.git?access_token=s3cret")]
    [InlineData("https://example.com/kb.git?")]
    [InlineData("https://example.com/kb.git#s3cret")]
    [InlineData("https://example.com/kb.git?private_token=s3cret#x")]
    [InlineData("ssh://git@example.com/kb.git?key=s3cret")]
    [InlineData("file:///srv/kbs/kb.git?x=1")]
    public void A_remote_with_a_query_string_or_a_fragment_is_refused(string remote)
    {
        var refused = Assert.Throws<RemoteNotAllowedException>(() => RemoteUrls.Normalize(remote));

        Assert.Contains("query string or a fragment", refused.Message);
        Assert.DoesNotContain("s3cret", refused.Message);
    }

    [Theory]
    [InlineData("git://example.com/kb.git")]
    [InlineData("ssh+git://example.com/kb.git")]
    [InlineData("git+ssh://example.com/kb.git")]
    [InlineData("ftp://example.com/kb.git")]
    [InlineData("ext::sh -c touch% /tmp/pwned")]
    [InlineData("file://otherhost/srv/kb.git")]
    [InlineData("ssh://example.com/-oProxyCommand=touch")]
    [InlineData("example.com:'kb.git'")]
    [InlineData("ssh://-oProxyCommand=x/kb.git")]
    [InlineData("/srv/kbs/../other/kb.git")]
    [InlineData("/srv/kbs/a:b.git")]
    [InlineData("")]
    [InlineData("https://example.com/kb\n.git")]
    public void Other_schemes_hosts_that_look_like_options_and_unsafe_paths_are_refused(string remote)
    {
        Assert.Throws<RemoteNotAllowedException>(() => RemoteUrls.Normalize(remote));
    }

    [Theory]
    [InlineData("https://github.com/org/kb.git", RemoteKind.Https, "github.com", null, null, "/org/kb.git")]
    [InlineData("https://Git.Example.com:8443/kb", RemoteKind.Https, "git.example.com", 8443, null, "/kb")]
    [InlineData("http://127.0.0.1:9000/kb.git", RemoteKind.Http, "127.0.0.1", 9000, null, "/kb.git")]
    [InlineData("ssh://git@github.com/org/kb.git", RemoteKind.Ssh, "github.com", null, "git", "/org/kb.git")]
    [InlineData("ssh://git@127.0.0.1:2222/srv/kb.git", RemoteKind.Ssh, "127.0.0.1", 2222, "git", "/srv/kb.git")]
    [InlineData("git@github.com:org/kb.git", RemoteKind.Ssh, "github.com", null, "git", "org/kb.git")]
    [InlineData("github.com:org/a@b.git", RemoteKind.Ssh, "github.com", null, null, "org/a@b.git")]
    [InlineData("file:///srv/kbs/kb.git", RemoteKind.Local, null, null, null, "/srv/kbs/kb.git")]
    [InlineData("/srv/kbs/kb.git", RemoteKind.Local, null, null, null, "/srv/kbs/kb.git")]
    public void Remotes_are_taken_apart_into_kind_host_port_user_and_path(string remote, RemoteKind kind, string? host, int? port, string? user, string path)
    {
        Assert.Equal(new RemoteAddress(kind, host, port, user, path), RemoteUrls.Parse(remote));
    }

    [Fact]
    public void A_relative_local_path_is_stored_absolute()
    {
        Assert.Equal(Path.GetFullPath("kbs/kb.git"), RemoteUrls.Normalize("kbs/kb.git"));
    }

    [Theory]
    [InlineData("https://github.com/org/kb.git", "git@github.com:org/kb.git", true)]
    [InlineData("https://github.com/org/kb.git", "https://GitHub.com/Org/KB/", true)]
    [InlineData("/srv/kbs/kb.git", "file:///srv/kbs/kb.git", true)]
    [InlineData("https://github.com/org/kb.git", "https://github.com/org/other.git", false)]
    [InlineData("https://github.com/org/kb.git", "https://gitlab.com/org/kb.git", false)]
    public void Two_spellings_of_one_repository_are_the_same_repository(string a, string b, bool same)
    {
        Assert.Equal(same, RemoteUrls.SameRepository(a, b));
    }
}

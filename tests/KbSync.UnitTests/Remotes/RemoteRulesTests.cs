using KbSync.Persistence.Entities;
using KbSync.Persistence.KnowledgeBases;

namespace KbSync.UnitTests.Remotes;

/// <summary>
/// The settings' rules (<see cref="RemoteOptions"/>) on hosts, http, SSH, local folders and token
/// variables, on real folders and symlinks, and who may be given a KB's token.
/// </summary>
public sealed class RemoteRulesTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("kbsync-rules-");

    public void Dispose() => _folder.Delete(recursive: true);

    private string Combine(params string[] parts) => Path.Combine([_folder.FullName, .. parts]);

    private RemoteRules Rules(Action<RemoteOptions>? change = null)
    {
        var options = new RemoteOptions { AllowedHosts = ["github.com", "git.example.com:8443", "127.0.0.1"], LocalRoot = Combine("remotes"), KnownHostsFile = "/etc/kbsync/known_hosts" };
        change?.Invoke(options);
        return new RemoteRules(options);
    }

    private static string Refusal(RemoteRules rules, string remote) => Assert.Throws<RemoteNotAllowedException>(() => rules.CheckRemote(remote)).Message;

    [Fact]
    public void The_defaults_allow_no_network_host_no_http_no_ssh_and_no_local_remote()
    {
        var rules = new RemoteRules(new RemoteOptions());

        Assert.Contains("Remotes__AllowedHosts is empty", Refusal(rules, "https://github.com/org/kb.git"));
        Assert.Contains("http:// remotes are refused", Refusal(rules, "http://github.com/org/kb.git"));
        Assert.Contains("Remotes__KnownHostsFile", Refusal(rules, "git@github.com:org/kb.git"));
        Assert.Contains("Remotes__LocalRoot is not set", Refusal(rules, Combine("remotes", "kb.git")));
        Assert.Equal(RemoteOptions.DefaultTokenEnvPrefix, new RemoteOptions().TokenEnvPrefix);
    }

    [Theory]
    [InlineData("https://github.com/org/kb.git", true)]
    [InlineData("https://GITHUB.COM./org/kb.git", true)]
    [InlineData("https://github.com:444/org/kb.git", true)]
    [InlineData("https://git.example.com:8443/kb.git", true)]
    [InlineData("https://git.example.com/kb.git", false)]
    [InlineData("https://github.com.evil.example/org/kb.git", false)]
    [InlineData("https://evil.example/github.com/kb.git", false)]
    [InlineData("ssh://git@github.com/org/kb.git", true)]
    [InlineData("git@github.com:org/kb.git", true)]
    [InlineData("git@gitlab.com:org/kb.git", false)]
    public void Only_allowed_hosts_and_ports_pass(string remote, bool allowed)
    {
        var rules = Rules();

        if (allowed)
        {
            Assert.Equal(remote, rules.CheckRemote(remote));
        }
        else
        {
            Assert.Contains("is not allowed: Remotes__AllowedHosts lists", Refusal(rules, remote));
        }
    }

    [Fact]
    public void Http_is_refused_unless_allowed_and_then_only_on_allowed_hosts()
    {
        Assert.Contains("clear text", Refusal(Rules(), "http://127.0.0.1:9000/kb.git"));

        var lax = Rules(o => o.AllowHttp = true);
        Assert.Equal("http://127.0.0.1:9000/kb.git", lax.CheckRemote("http://127.0.0.1:9000/kb.git"));
        Assert.Contains("not allowed", Refusal(lax, "http://127.0.0.2:9000/kb.git"));
    }

    [Fact]
    public void A_local_remote_must_be_inside_the_root_symlinks_resolved()
    {
        Directory.CreateDirectory(Combine("remotes", "team"));
        Directory.CreateDirectory(Combine("elsewhere", "victim.git"));
        Directory.CreateSymbolicLink(Combine("remotes", "link.git"), Combine("elsewhere", "victim.git"));
        Directory.CreateSymbolicLink(Combine("remotes", "linked-folder"), Combine("elsewhere"));
        var rules = Rules();

        Assert.Equal(Combine("remotes", "team", "kb.git"), rules.CheckRemote(Combine("remotes", "team", "kb.git")));
        Assert.Equal($"file://{Combine("remotes", "kb.git")}", rules.CheckRemote($"file://{Combine("remotes", "kb.git")}"));
        Assert.Contains("outside Remotes__LocalRoot", Refusal(rules, Combine("elsewhere", "victim.git")));
        Assert.Contains("outside Remotes__LocalRoot", Refusal(rules, $"file://{Combine("elsewhere", "victim.git")}"));
        Assert.Contains($"(really {Combine("elsewhere", "victim.git")})", Refusal(rules, Combine("remotes", "link.git")));
        Assert.Contains("outside Remotes__LocalRoot", Refusal(rules, Combine("remotes", "linked-folder", "victim.git")));
        Assert.Contains("outside Remotes__LocalRoot", Refusal(rules, Combine("remotes")));
        Assert.Contains("outside Remotes__LocalRoot", Refusal(rules, Combine("remotes-other", "kb.git")));
        Assert.Contains("outside Remotes__LocalRoot", Refusal(rules, "/etc/kb.git"));
    }

    [Fact]
    public void A_local_remote_inside_a_worker_data_folder_is_refused_whether_configured_or_marked()
    {
        Directory.CreateDirectory(Combine("remotes", "workers", "w2"));
        File.WriteAllText(Combine("remotes", "workers", "w2", LocalRemotePaths.WorkerDataMarker), "");
        var rules = Rules(o => o.WorkerDataPaths = [Combine("remotes", "workers", "w1")]);

        Assert.Contains("inside the worker data folder", Refusal(rules, Combine("remotes", "workers", "w1", "kbs", "other.git")));
        Assert.Contains("inside the worker data folder", Refusal(rules, Combine("remotes", "workers", "w2", "kbs", "other.git")));
        Assert.Contains("inside the worker data folder", Refusal(rules.WithWorkerDataPath(Combine("remotes", "w3")), Combine("remotes", "w3", "kbs", "x.git")));
        Assert.Equal(Combine("remotes", "workers", "kb.git"), rules.CheckRemote(Combine("remotes", "workers", "kb.git")));
    }

    [Fact]
    public void The_repository_KbSync_runs_from_is_refused_even_under_the_root()
    {
        var checkout = LocalRemotePaths.Checkout();
        Assert.NotEmpty(checkout.WorkingFolders); // the tests run from a checkout
        var rules = Rules(o => o.LocalRoot = "/");

        foreach (var folder in checkout.WorkingFolders)
        {
            Assert.Contains("KbSync's own repository", Refusal(rules, folder));
        }

        foreach (var git in checkout.GitFolders)
        {
            Assert.Contains("KbSync's own repository", Refusal(rules, git));
            Assert.Contains("KbSync's own repository", Refusal(rules, Path.Combine(git, "modules", "x")));
        }
    }

    [Theory]
    [InlineData("KBSYNC_TOKEN_TEAM_NOTES", null)]
    [InlineData("ConnectionStrings__KbSync", "must start with 'KBSYNC_TOKEN_'")]
    [InlineData("RabbitMq__Password", "must start with 'KBSYNC_TOKEN_'")]
    [InlineData("KBSYNC_TOKEN_", "must start with 'KBSYNC_TOKEN_'")]
    [InlineData("kbsync_token_x", "must start with 'KBSYNC_TOKEN_'")]
    [InlineData("KBSYNC_TOKEN_X-Y", "not an environment variable name")]
    [InlineData("ghp_s3cretTokenValueThatSomeonePastedByMistake000", "must start with")]
    public void A_token_variable_must_be_a_variable_name_with_the_prefix(string name, string? refusal)
    {
        var rules = Rules();

        if (refusal is null)
        {
            Assert.Equal(name, rules.CheckTokenEnv(name));
            return;
        }

        var message = Assert.Throws<RemoteNotAllowedException>(() => rules.CheckTokenEnv(name)).Message;
        Assert.Contains(refusal, message);
        Assert.DoesNotContain("s3cret", message); // a "name" may be the token itself: never repeated
    }

    [Fact]
    public void A_registered_row_is_checked_whole_branch_token_and_remote()
    {
        var rules = Rules();
        KnowledgeBaseRecord Row(string remote, string branch = "main", string? token = null) => new() { Id = "kb", RemoteUrl = remote, Branch = branch, TokenEnv = token };

        rules.Check(Row("https://github.com/org/kb.git", "kb/notes", "KBSYNC_TOKEN_KB"));
        Assert.Throws<RemoteNotAllowedException>(() => rules.Check(Row("https://github.com/org/kb.git", "/escape")));
        Assert.Throws<RemoteNotAllowedException>(() => rules.Check(Row("https://github.com/org/kb.git", token: "ConnectionStrings__KbSync")));
        Assert.Throws<RemoteNotAllowedException>(() => rules.Check(Row("https://evil.example/kb.git")));
        Assert.Throws<RemoteNotAllowedException>(() => rules.Check(Row("https://u:p@github.com/kb.git")));
    }

    [Theory]
    [InlineData("https://github.com/org/kb.git", "https://github.com/org/kb.git", true)]
    [InlineData("https://github.com/org/kb.git", "https://github.com:443/org/renamed.git", true)]
    [InlineData("https://github.com/org/kb.git", "https://evil.example/org/kb.git", false)]
    [InlineData("https://github.com/org/kb.git", "http://github.com/org/kb.git", false)]
    [InlineData("https://github.com/org/kb.git", "https://github.com:8443/org/kb.git", false)]
    [InlineData("https://github.com/org/kb.git", "https://github.com.evil.example/org/kb.git", false)]
    [InlineData("https://evil.example/org/kb.git", "https://evil.example/org/kb.git", false)]
    [InlineData("http://127.0.0.1:9000/kb.git", "http://127.0.0.1:9000/kb.git", false)]
    [InlineData("git@github.com:org/kb.git", "ssh://git@github.com/org/kb.git", false)]
    [InlineData("https://github.com/org/kb.git", "not a url", false)]
    public void The_token_goes_only_to_the_registered_scheme_host_and_port_of_an_allowed_https_remote(string registered, string asking, bool given)
    {
        var rules = Rules();

        Assert.Equal(given, rules.MayReceiveToken(registered, asking, out var why));
        Assert.Equal(given, why.Length == 0);
    }

    [Fact]
    public void With_http_allowed_the_token_goes_over_http_to_the_registered_origin_only()
    {
        var rules = Rules(o => o.AllowHttp = true);

        Assert.True(rules.MayReceiveToken("http://127.0.0.1:9000/kb.git", "http://127.0.0.1:9000/kb.git", out _));
        Assert.False(rules.MayReceiveToken("http://127.0.0.1:9000/kb.git", "http://127.0.0.1:9001/kb.git", out var otherPort));
        Assert.Contains("127.0.0.1:9001", otherPort);
        Assert.False(rules.MayReceiveToken("http://127.0.0.1:9000/kb.git", "http://127.0.0.2:9000/kb.git", out _));
    }
}

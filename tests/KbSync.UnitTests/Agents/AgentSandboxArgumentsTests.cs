using KbSync.Contracts;
using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Agents.Sandbox;

namespace KbSync.UnitTests.Agents;

/// <summary>The bwrap command line and environment <see cref="AgentSandbox"/> builds, argument by argument.</summary>
public sealed class AgentSandboxArgumentsTests : IDisposable
{
    private const string RunFolderPath = "/srv/kbsync/data/agent-runs/team-notes/0a1b";

    /// <summary>Debian 12: /bin, /sbin, /lib and /lib64 are symlinks into /usr.</summary>
    private static readonly HostSystem MergedUsr = new(
        new Dictionary<string, string> { ["/bin"] = "usr/bin", ["/sbin"] = "usr/sbin", ["/lib"] = "usr/lib", ["/lib64"] = "usr/lib64" }, []);

    private readonly string _folder = Directory.CreateTempSubdirectory("kbsync-sandbox-args-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void The_bwrap_arguments_confine_the_agent_to_its_run_folder()
    {
        var sandbox = new AgentSandbox("/usr/bin/bwrap", MergedUsr, "/srv/kbsync/data");

        var arguments = sandbox.Arguments("claude", new AgentOptions { Command = "claude", Arguments = ["--print", "-"] }, RunFolderPath, "/run/kbsync/kb");

        string[] expected =
        [
            "--unshare-pid", "--as-pid-1", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--unshare-net",
            "--hostname", "kbsync-agent", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--ro-bind-try", "/etc/alternatives", "/etc/alternatives", "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--ro-bind-try", "/etc/ld.so.conf", "/etc/ld.so.conf", "--ro-bind-try", "/etc/ld.so.conf.d", "/etc/ld.so.conf.d",
            "--ro-bind-try", "/etc/passwd", "/etc/passwd", "--ro-bind-try", "/etc/group", "/etc/group",
            "--ro-bind-try", "/etc/nsswitch.conf", "/etc/nsswitch.conf", "--ro-bind-try", "/etc/hosts", "/etc/hosts",
            "--ro-bind-try", "/etc/host.conf", "/etc/host.conf", "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf",
            "--ro-bind-try", "/etc/gai.conf", "/etc/gai.conf", "--ro-bind-try", "/etc/services", "/etc/services",
            "--ro-bind-try", "/etc/protocols", "/etc/protocols", "--ro-bind-try", "/etc/ssl/certs", "/etc/ssl/certs",
            "--ro-bind-try", "/etc/ssl/openssl.cnf", "/etc/ssl/openssl.cnf", "--ro-bind-try", "/etc/ca-certificates", "/etc/ca-certificates",
            "--ro-bind-try", "/etc/ca-certificates.conf", "/etc/ca-certificates.conf", "--ro-bind-try", "/etc/localtime", "/etc/localtime",
            "--ro-bind-try", "/etc/timezone", "/etc/timezone", "--ro-bind-try", "/etc/os-release", "/etc/os-release",
            "--ro-bind-try", "/etc/debian_version", "/etc/debian_version", "--ro-bind-try", "/etc/mime.types", "/etc/mime.types",
            "--proc", "/proc", "--dev", "/dev",
            "--bind", RunFolderPath, "/run/kbsync", "--bind", RunFolderPath + "/tmp", "/tmp",
            "--remount-ro", "/", "--chdir", "/run/kbsync/kb",
            "--", "claude", "--print", "-",
        ];
        Assert.Equal(expected, arguments);
    }

    [Fact]
    public void An_agent_allowed_the_network_keeps_the_hosts_and_nothing_else_changes()
    {
        var sandbox = new AgentSandbox("/usr/bin/bwrap", MergedUsr, "/srv/kbsync/data");
        var confined = sandbox.Arguments("a", new AgentOptions { Command = "a" }, RunFolderPath, "/run/kbsync/kb");

        var networked = sandbox.Arguments("a", new AgentOptions { Command = "a", AllowNetwork = true }, RunFolderPath, "/run/kbsync/kb");

        Assert.Equal(confined.Where(a => a != "--unshare-net"), networked);
        Assert.Contains("--unshare-net", confined);
    }

    [Fact]
    public void A_system_folder_that_is_a_real_folder_is_bound_read_only_and_a_missing_one_left_out()
    {
        var sandbox = new AgentSandbox("/usr/bin/bwrap", new HostSystem(new Dictionary<string, string> { ["/lib64"] = "usr/lib64" }, ["/bin", "/lib"]), "/srv/kbsync/data");

        var arguments = string.Join(' ', sandbox.Arguments("a", new AgentOptions { Command = "a" }, RunFolderPath, "/run/kbsync/kb"));

        Assert.Contains("--ro-bind /usr /usr --ro-bind /bin /bin --ro-bind /lib /lib --symlink usr/lib64 /lib64 --ro-bind-try", arguments);
        Assert.DoesNotContain("/sbin", arguments);
    }

    [Fact]
    public void A_read_only_path_is_bound_after_tmp_and_a_data_folder_under_it_stays_hidden()
    {
        var data = Directory.CreateDirectory(Path.Combine(_folder, "data")).FullName;
        var sandbox = new AgentSandbox("/usr/bin/bwrap", MergedUsr, data);

        var arguments = string.Join(' ', sandbox.Arguments("a", new AgentOptions { Command = "a", ReadOnlyPaths = [_folder] }, RunFolderPath, "/run/kbsync/kb"));

        var folder = HostPath.Real(_folder);
        Assert.Contains($"--bind {RunFolderPath}/tmp /tmp --ro-bind {folder} {folder} --tmpfs {folder}/data --remount-ro {folder}/data --remount-ro / ", arguments);
    }

    [Fact]
    public void A_program_outside_the_system_is_bound_read_only_where_it_is()
    {
        var program = Path.Combine(_folder, "agent.sh");
        File.WriteAllText(program, "echo hi\n");
        var sandbox = new AgentSandbox("/usr/bin/bwrap", MergedUsr, "/srv/kbsync/data");

        var arguments = string.Join(' ', sandbox.Arguments("a", new AgentOptions { Command = program }, RunFolderPath, "/run/kbsync/kb"));

        var real = HostPath.Real(program);
        Assert.Contains($"--ro-bind {real} {real} --remount-ro / --chdir /run/kbsync/kb -- {program}", arguments);
    }

    [Theory]
    [InlineData("read-only path")]
    [InlineData("program")]
    public void Nothing_inside_the_data_folder_may_be_shown_to_an_agent(string what)
    {
        var data = Directory.CreateDirectory(Path.Combine(_folder, "data")).FullName;
        var inside = Path.Combine(data, "kbs", "other-kb.git", "HEAD");
        Directory.CreateDirectory(Path.GetDirectoryName(inside)!);
        File.WriteAllText(inside, "ref: refs/heads/main\n");
        var agent = what == "program" ? new AgentOptions { Command = inside } : new AgentOptions { Command = "a", ReadOnlyPaths = [Path.GetDirectoryName(inside)!] };
        var sandbox = new AgentSandbox("/usr/bin/bwrap", MergedUsr, data);

        var failure = Assert.Throws<AgentFailure>(() => sandbox.Arguments("a", agent, RunFolderPath, "/run/kbsync/kb"));

        Assert.Equal(ReasonCodes.AgentFailed, failure.ReasonCode);
        Assert.Contains("inside the worker's data folder", failure.Message);
    }

    [Fact]
    public void The_environment_is_built_from_nothing_and_stays_off_the_command_line()
    {
        var sandbox = new AgentSandbox("/usr/bin/bwrap", MergedUsr, "/srv/kbsync/data");
        var agent = new AgentOptions { Command = "a", TopicsOnly = true, Environment = { ["API_KEY"] = "key-123" } };
        var request = new KbRequest(Guid.NewGuid(), "team-notes", "alice", DateTimeOffset.UtcNow, AgentTask: new AgentTaskContent("Tidy the inbox", "a"));
        var run = RunFolder.CreateAt(Path.Combine(_folder, "run"));

        var info = sandbox.StartInfo("a", agent, run, request);

        Assert.Equal("/usr/bin/bwrap", info.FileName);
        Assert.Equal(
            new Dictionary<string, string?>
            {
                ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
                ["LANG"] = "C.UTF-8",
                ["API_KEY"] = "key-123",
                ["HOME"] = "/run/kbsync/home",
                ["TMPDIR"] = "/run/kbsync/tmp",
                ["KBSYNC_INSTRUCTION"] = "Tidy the inbox",
                ["KBSYNC_KB_ID"] = "team-notes",
                ["KBSYNC_KB_ROOT"] = "/run/kbsync/kb",
                ["KBSYNC_OPERATION_ID"] = request.OperationId.ToString(),
                ["KBSYNC_REQUESTED_BY"] = "alice",
            }.OrderBy(e => e.Key, StringComparer.Ordinal),
            info.Environment.OrderBy(e => e.Key, StringComparer.Ordinal));
        Assert.DoesNotContain(info.ArgumentList, a => a.Contains("Tidy", StringComparison.Ordinal) || a.Contains("key-123", StringComparison.Ordinal));
        Assert.DoesNotContain("--setenv", info.ArgumentList);
        Assert.Equal("/run/kbsync/kb/topics", info.ArgumentList[info.ArgumentList.IndexOf("--chdir") + 1]);
        Assert.Equal(run.Root, info.ArgumentList[info.ArgumentList.IndexOf("/run/kbsync") - 1]);
    }

    [Theory]
    [InlineData("HOME")]
    [InlineData("TMPDIR")]
    [InlineData("KBSYNC_KB_ROOT")]
    [InlineData("BAD-NAME")]
    [InlineData("")]
    public void An_allow_list_cannot_set_what_kbsync_sets_or_an_unusable_name(string name)
    {
        var agent = new AgentOptions { Command = "a", Environment = { [name] = "x" } };
        var request = new KbRequest(Guid.NewGuid(), "team-notes", "alice", DateTimeOffset.UtcNow, AgentTask: new AgentTaskContent("Tidy", "a"));

        var failure = Assert.Throws<AgentFailure>(() => AgentEnvironment.For("a", agent, request, "/kb", "/home", "/tmp"));

        Assert.Equal(ReasonCodes.AgentFailed, failure.ReasonCode);
        Assert.Contains($"KbWorker__Agents__a__Environment__{name}", failure.Message);
    }
}

using System.Net;
using System.Net.Sockets;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Agents.Sandbox;

namespace KbSync.IntegrationTests.Agents;

/// <summary>
/// The real bubblewrap sandbox, without a worker: what an agent can run, see, write and reach in it. Needs
/// <c>/usr/bin/bwrap</c> (<c>./dev test-deps</c> installs it).
/// </summary>
public sealed class AgentSandboxTests : IDisposable
{
    private const string Bwrap = "/usr/bin/bwrap";
    private readonly TempFolder _folder = new();
    private readonly string _data;
    private readonly string _otherClone;

    public AgentSandboxTests()
    {
        Assert.True(File.Exists(Bwrap), $"{Bwrap} is missing: run ./dev test-deps (Debian package bubblewrap).");
        _data = _folder.Combine("data");
        _otherClone = Path.Combine(_data, "kbs", "other-kb.git");
        Directory.CreateDirectory(_otherClone);
        File.WriteAllText(Path.Combine(_otherClone, "HEAD"), "ref: refs/heads/main\n");
    }

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task The_sandbox_runs_sh_git_and_python3_and_only_its_run_folder_is_writable()
    {
        var planted = _folder.Combine("planted.md");
        var script = $"""
            echo "git: $(git --version)"
            echo "python: $(python3 -c 'print(6 * 7)')"
            echo "root: $(ls / | tr '\n' ' ')"
            echo "run: $(ls /run/kbsync | tr '\n' ' ')"
            echo "stdin: $(cat)"
            echo "pid: $$"
            echo "host: $(uname -n)"
            for target in /usr/x /etc/x /x '{_otherClone}/HEAD' '{planted}'; do
              if (echo hostile > "$target") 2>/dev/null; then echo "wrote $target"; else echo "refused $target"; fi
            done
            echo made > /run/kbsync/kb/made.md && echo "wrote the kb"
            echo tmp > /tmp/t && echo "wrote /tmp"
            cat /etc/shadow /etc/ssl/private/* 2>/dev/null || echo "no secrets of /etc"
            """;
        var (output, run) = await RunAsync(new AgentOptions { Command = "sh", Arguments = ["-c", script] }, "the instruction");

        Assert.Contains("git: git version", output);
        Assert.Contains("python: 42", output);
        var root = output.Split('\n').Single(l => l.StartsWith("root: ", StringComparison.Ordinal))["root: ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Subset(new HashSet<string> { "bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev", "run", "tmp" }, root.ToHashSet());
        Assert.Contains("run: home kb tmp", output);
        Assert.Contains("stdin: the instruction", output);
        Assert.Contains("pid: 1\n", output);
        Assert.Contains($"host: {AgentSandbox.Hostname}", output);
        foreach (var target in new[] { "/usr/x", "/etc/x", "/x", $"{_otherClone}/HEAD", planted })
        {
            Assert.Contains($"refused {target}", output);
        }

        Assert.Contains("no secrets of /etc", output);
        Assert.Equal("ref: refs/heads/main\n", await File.ReadAllTextAsync(Path.Combine(_otherClone, "HEAD")));
        Assert.False(File.Exists(planted));
        Assert.Equal("made\n", await File.ReadAllTextAsync(Path.Combine(run.Kb, "made.md")));
        Assert.Equal("tmp\n", await File.ReadAllTextAsync(Path.Combine(run.Tmp, "t")));
    }

    [Theory]
    [InlineData(false, "no connection")]
    [InlineData(true, "connected")]
    public async Task The_network_is_there_only_when_the_agent_is_allowed_it(bool allowNetwork, string expected)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var script = $"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 5); print('connected')\" 2>/dev/null || echo 'no connection'";

        var (output, _) = await RunAsync(new AgentOptions { Command = "sh", Arguments = ["-c", script], AllowNetwork = allowNetwork }, "x");

        Assert.Equal(expected, output.Trim());
    }

    [Fact]
    public async Task A_sandbox_outlives_the_thread_that_asked_for_it()
    {
        // --die-with-parent fires when the thread that forked bwrap exits: a retired thread-pool thread
        // would kill a running agent (exit 137) if agents were not started from one long-lived thread
        Task<(string Output, RunFolder Run)>? running = null;
        var thread = new Thread(() => running = RunAsync(new AgentOptions { Command = "sh", Arguments = ["-c", "sleep 1; echo still here"] }, "x"));
        thread.Start();
        thread.Join();

        var (output, _) = await running!;

        Assert.Equal("still here", output.Trim());
    }

    private async Task<(string Output, RunFolder Run)> RunAsync(AgentOptions agent, string instruction)
    {
        var request = new KbRequest(Guid.NewGuid(), "some-kb", "alice", DateTimeOffset.UtcNow, AgentTask: new AgentTaskContent(instruction, "test"));
        var run = RunFolder.Create(_data, request.KbId, request.OperationId);
        var sandbox = new AgentSandbox(Bwrap, HostSystem.Detect(), _data);
        var output = await AgentProcess.RunAsync("test", sandbox.StartInfo("test", agent, run, request), instruction, agent, CancellationToken.None);
        return (output, run);
    }
}

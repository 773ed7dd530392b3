using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// A real OpenSSH server for one bare repository: <c>/usr/sbin/sshd</c> (Debian's <c>openssh-server</c>,
/// which <c>./dev test-deps</c> installs) on a loopback port, with a throwaway host key and one
/// authorized deploy key whose command is forced: it runs <c>git-upload-pack</c> or <c>git-receive-pack</c>
/// of that repository and nothing else, as a hosting service's deploy key would. Runs as the current
/// user (root here: <c>PermitRootLogin forced-commands-only</c>).
/// </summary>
public sealed class SshServer : IAsyncDisposable
{
    private readonly Process _sshd;
    private readonly StringBuilder _log = new();

    private SshServer(string folder, string repository, int port, Process sshd)
    {
        Folder = folder;
        Repository = repository;
        Port = port;
        _sshd = sshd;
        sshd.ErrorDataReceived += (_, e) => { lock (_log) { _log.AppendLine(e.Data); } };
        sshd.BeginErrorReadLine();
    }

    public string Folder { get; }

    /// <summary>The bare repository the deploy key may read and write.</summary>
    public string Repository { get; }

    public int Port { get; }

    /// <summary><c>ssh://&lt;user&gt;@127.0.0.1:&lt;port&gt;&lt;repository&gt;</c>.</summary>
    public string Url => $"ssh://{Environment.UserName}@127.0.0.1:{Port}{Repository}";

    /// <summary>The deploy key's private half, as a KB's key variable on the workers holds it.</summary>
    public string DeployKey => File.ReadAllText(Path.Combine(Folder, "deploy_key"));

    /// <summary>The known-hosts line that vouches for this server's host key.</summary>
    public string KnownHostsLine => $"[127.0.0.1]:{Port} {File.ReadAllText(Path.Combine(Folder, "host_key.pub")).Trim()}";

    /// <summary>What sshd logged.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts sshd for <paramref name="repository"/> with its keys and configuration in <paramref name="folder"/>.</summary>
    public static async Task<SshServer> StartAsync(string folder, string repository)
    {
        if (OperatingSystem.IsWindows() || !File.Exists("/usr/sbin/sshd"))
        {
            throw new InvalidOperationException("/usr/sbin/sshd is missing: run ./dev test-deps (it installs Debian's openssh-server).");
        }

        Directory.CreateDirectory(folder);
        await NewKeyAsync(Path.Combine(folder, "host_key"));
        await NewKeyAsync(Path.Combine(folder, "deploy_key"));
        var script = Path.Combine(folder, "git-only.sh");
        File.WriteAllText(script, $"""
            #!/bin/sh
            case "$SSH_ORIGINAL_COMMAND" in
              "git-upload-pack '{repository}'") exec git-upload-pack '{repository}' ;;
              "git-receive-pack '{repository}'") exec git-receive-pack '{repository}' ;;
              *) echo "refused: $SSH_ORIGINAL_COMMAND" >&2; exit 1 ;;
            esac

            """.ReplaceLineEndings("\n"));
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(folder, "authorized_keys"), $"restrict,command=\"{script}\" {File.ReadAllText(Path.Combine(folder, "deploy_key.pub")).Trim()}\n");

        var port = FreePorts.Loopback();
        var config = Path.Combine(folder, "sshd_config");
        File.WriteAllText(config, $"""
            Port {port}
            ListenAddress 127.0.0.1
            HostKey {Path.Combine(folder, "host_key")}
            AuthorizedKeysFile {Path.Combine(folder, "authorized_keys")}
            PidFile {Path.Combine(folder, "sshd.pid")}
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            PermitRootLogin forced-commands-only
            AllowUsers {Environment.UserName}
            LogLevel VERBOSE

            """);
        Directory.CreateDirectory("/run/sshd"); // sshd's privilege separation folder

        var sshd = Process.Start(new ProcessStartInfo("/usr/sbin/sshd", ["-D", "-e", "-f", config]) { RedirectStandardError = true, UseShellExecute = false })!;
        var server = new SshServer(folder, repository, port, sshd);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await AcceptsAsync(port))
        {
            if (sshd.HasExited || DateTime.UtcNow > deadline)
            {
                await server.DisposeAsync();
                throw new InvalidOperationException($"sshd did not start on 127.0.0.1:{port}: {server.Log}");
            }

            await Task.Delay(50);
        }

        return server;
    }

    /// <summary>Another ed25519 key pair, unknown to this server: its private half, and a known-hosts line claiming it is this server's host key.</summary>
    public async Task<(string PrivateKey, string ImpostorKnownHostsLine)> StrangerKeyAsync()
    {
        var path = Path.Combine(Folder, $"stranger_{Guid.NewGuid():N}");
        await NewKeyAsync(path);
        return (File.ReadAllText(path), $"[127.0.0.1]:{Port} {File.ReadAllText(path + ".pub").Trim()}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_sshd.HasExited)
        {
            _sshd.Kill(entireProcessTree: true);
            await _sshd.WaitForExitAsync();
        }

        _sshd.Dispose();
    }

    private static async Task NewKeyAsync(string path)
    {
        using var keygen = Process.Start(new ProcessStartInfo("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "kbsync-test", "-f", path]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        await keygen.WaitForExitAsync();
        if (keygen.ExitCode != 0)
        {
            throw new InvalidOperationException($"ssh-keygen failed: {await keygen.StandardError.ReadToEndAsync()}");
        }
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// KbSync's own transport for <c>ssh://</c> and scp-like (<c>git@host:path</c>) remotes, registered with
/// libgit2 in place of its built-in one (<see cref="Register"/>).
/// <para>
/// Why: the libgit2 LibGit2Sharp 0.32 bundles (1.8.6) is built without libssh2; its SSH transport runs
/// OpenSSH's <c>ssh</c> (the "exec" backend). That backend never calls the credentials or certificate
/// callbacks, so it cannot be given a key or a host-key check through them, and it takes its command from
/// <c>GIT_SSH_COMMAND</c>/<c>GIT_SSH</c> (process-wide: one per worker, not per KB) or <c>core.sshCommand</c>
/// (the clone's config, without a shell). Running <c>ssh</c> here instead, from the thread's
/// <see cref="SshSession"/>, gives each KB its own deploy key, a strict host-key check against
/// <c>Remotes__KnownHostsFile</c> done by OpenSSH itself on the connection it makes, no agent, no user or
/// system ssh config, a clean environment, ssh's own error messages, and a process killed at the deadline.
/// </para>
/// </summary>
internal sealed class SshSubtransport : SmartSubtransport
{
    private static readonly Lazy<bool> Registration = new(() =>
    {
        GlobalSettings.RegisterSmartSubtransport<SshSubtransport>("ssh");
        return true;
    });

    private SshConnection? _connection;

    /// <summary>Makes libgit2 use this transport for every SSH remote of this process (once).</summary>
    public static void Register() => _ = Registration.Value;

    protected override SmartSubtransportStream Action(string url, GitSmartSubtransportAction action)
    {
        var session = SshSession.Current
            ?? throw new InvalidOperationException("SSH connections are made only for a KB's registered SSH remote.");
        if (url != session.RemoteUrl)
        {
            throw new InvalidOperationException($"libgit2 asked for an SSH connection to another address than the KB's registered remote {session.RemoteUrl}.");
        }

        switch (action)
        {
            case GitSmartSubtransportAction.UploadPackList:
            case GitSmartSubtransportAction.ReceivePackList:
                _connection?.Stop();
                _connection = new SshConnection(this, session, action == GitSmartSubtransportAction.UploadPackList ? "git-upload-pack" : "git-receive-pack");
                return _connection;
            default:
                return _connection ?? throw new InvalidOperationException("libgit2 asked to continue an SSH connection that was never opened.");
        }
    }

    protected override void Close()
    {
        _connection?.Stop();
        _connection = null;
        base.Close();
    }
}

/// <summary>One <c>ssh</c> process running <c>git-upload-pack</c> or <c>git-receive-pack</c> on the server; its standard input and output are the git protocol.</summary>
internal sealed class SshConnection : SmartSubtransportStream
{
    private const int MaxErrorChars = 2000;

    private readonly SshSession _session;
    private readonly Process _process;
    private readonly StringBuilder _errors = new();
    private readonly Task _errorReader;
    private readonly CancellationTokenRegistration _killAtDeadline;
    private bool _stopped;

    public SshConnection(SmartSubtransport transport, SshSession session, string service)
        : base(transport)
    {
        _session = session;
        var info = new ProcessStartInfo("ssh")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in Arguments(session, service))
        {
            info.ArgumentList.Add(argument);
        }

        // nothing of the worker's environment (SSH_AUTH_SOCK, tokens, connection strings) reaches ssh
        info.Environment.Clear();
        info.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        info.Environment["LANG"] = "C";
        try
        {
            _process = Process.Start(info) ?? throw new InvalidOperationException("ssh did not start");
        }
        catch (Win32Exception error)
        {
            session.Failure = $"could not run ssh, OpenSSH's client ({error.Message}): install openssh-client on the worker";
            throw new InvalidOperationException(session.Failure, error);
        }

        _errorReader = Task.Run(ReadErrorsAsync);
        _killAtDeadline = session.Deadline.Register(Kill);
    }

    /// <summary>
    /// ssh's options: only the KB's key (no agent, no default keys), only the configured known-hosts file
    /// (strict: an unknown or changed host key ends the connection; nothing is ever added to it), no user
    /// or system config (<c>-F /dev/null</c>: no ProxyCommand, no forwarding), no prompts.
    /// </summary>
    public static IReadOnlyList<string> Arguments(SshSession session, string service)
    {
        var address = session.Address;
        var path = address.Path.StartsWith("/~", StringComparison.Ordinal) ? address.Path[1..] : address.Path;
        var arguments = new List<string>
        {
            "-F", "/dev/null",
            "-i", session.KeyFile,
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", "BatchMode=yes",
            "-o", "PreferredAuthentications=publickey",
            "-o", "PasswordAuthentication=no",
            "-o", "KbdInteractiveAuthentication=no",
            "-o", "StrictHostKeyChecking=yes",
            "-o", $"UserKnownHostsFile={SshPath(session.KnownHostsFile)}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "UpdateHostKeys=no",
            "-o", "CheckHostIP=no",
            "-o", "ForwardAgent=no",
            "-o", "ForwardX11=no",
            "-o", "ClearAllForwardings=yes",
            "-o", "PermitLocalCommand=no",
            "-o", $"ConnectTimeout={Math.Max(1, (int)session.ConnectTimeout.TotalSeconds)}",
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=3",
            "-o", "LogLevel=ERROR",
            "-p", (address.Port ?? 22).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (address.User is { } user)
        {
            arguments.AddRange(["-l", user]);
        }

        arguments.AddRange(["--", address.Host!, $"{service} '{path}'"]); // the path holds no quote (RemoteUrls)
        return arguments;
    }

    public override int Read(Stream dataStream, long length, out long bytesRead)
    {
        var buffer = new byte[(int)Math.Min(length, 64 * 1024)];
        int read;
        try
        {
            read = _process.StandardOutput.BaseStream.Read(buffer, 0, buffer.Length);
        }
        catch (IOException)
        {
            read = 0;
        }

        bytesRead = read;
        if (read == 0)
        {
            return Ended() ? 0 : -1;
        }

        dataStream.Write(buffer, 0, read);
        return 0;
    }

    public override int Write(Stream dataStream, long length)
    {
        try
        {
            var input = _process.StandardInput.BaseStream;
            dataStream.CopyTo(input);
            input.Flush();
            return 0;
        }
        catch (IOException)
        {
            Ended();
            return -1;
        }
    }

    /// <summary>Closes the connection: ssh gets end-of-input, and is killed if it does not exit.</summary>
    public void Stop()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        _killAtDeadline.Dispose();
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
        }

        if (!_process.WaitForExit(TimeSpan.FromSeconds(5)))
        {
            Kill();
        }

        _errorReader.Wait(TimeSpan.FromSeconds(2));
        _process.Dispose();
    }

    protected override void Free()
    {
        Stop();
        base.Free();
    }

    /// <summary>ssh closed its output: true when it exited cleanly; otherwise its words go to the session.</summary>
    private bool Ended()
    {
        if (!_process.WaitForExit(TimeSpan.FromSeconds(5)))
        {
            Kill();
            _process.WaitForExit(TimeSpan.FromSeconds(5));
        }

        _errorReader.Wait(TimeSpan.FromSeconds(2));
        if (_process.HasExited && _process.ExitCode == 0)
        {
            return true;
        }

        string said;
        lock (_errors)
        {
            said = string.Join(" ", _errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }

        _session.Failure ??= _session.Deadline.IsCancellationRequested
            ? "the connection was ended at the deadline"
            : $"ssh exited with code {(_process.HasExited ? _process.ExitCode : -1)}: {(said.Length == 0 ? "(it said nothing)" : said)}";
        return false;
    }

    private void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    private async Task ReadErrorsAsync()
    {
        var buffer = new char[1024];
        int read;
        while ((read = await _process.StandardError.ReadAsync(buffer)) > 0)
        {
            lock (_errors)
            {
                if (_errors.Length < MaxErrorChars)
                {
                    _errors.Append(buffer, 0, Math.Min(read, MaxErrorChars - _errors.Length));
                }
            }
        }
    }

    /// <summary>A path as an ssh_config value: quoted (ssh splits values on spaces), <c>%</c> doubled (ssh expands tokens in it).</summary>
    private static string SshPath(string path) => $"\"{path.Replace("%", "%%", StringComparison.Ordinal)}\"";
}

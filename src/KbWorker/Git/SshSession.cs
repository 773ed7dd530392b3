using KbSync.Contracts;
using KbSync.Persistence.KnowledgeBases;

namespace KbSync.KbWorker.Git;

/// <summary>
/// Everything one fetch or push over SSH needs, for <see cref="SshSubtransport"/> to find on the thread
/// that calls libgit2 (libgit2 calls its transport back synchronously on that thread): the registered
/// remote, the KB's deploy key as a file (<see cref="SshKeyFile"/>, deleted when the session ends), the
/// known-hosts file, and what ssh said when it failed. Outside a session SSH is refused, so no other
/// libgit2 call in the worker can open an SSH connection.
/// </summary>
internal sealed class SshSession : IDisposable
{
    [ThreadStatic]
    private static SshSession? _current;

    private readonly SshKeyFile _key;
    private readonly CancellationTokenSource _deadline;

    private SshSession(string remoteUrl, RemoteAddress address, SshKeyFile key, string knownHostsFile, TimeSpan connectTimeout, TimeSpan limit, CancellationToken cancellationToken)
    {
        RemoteUrl = remoteUrl;
        Address = address;
        _key = key;
        KnownHostsFile = knownHostsFile;
        ConnectTimeout = connectTimeout;
        _deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _deadline.CancelAfter(limit);
    }

    /// <summary>The session of the libgit2 call running on this thread, if it is an SSH one.</summary>
    public static SshSession? Current => _current;

    /// <summary>The remote as registered: libgit2 must ask for exactly this one.</summary>
    public string RemoteUrl { get; }

    public RemoteAddress Address { get; }

    public string KeyFile => _key.Path;

    public string KnownHostsFile { get; }

    public TimeSpan ConnectTimeout { get; }

    /// <summary>Cancelled at the network deadline or with the operation: the ssh process is killed then.</summary>
    public CancellationToken Deadline => _deadline.Token;

    /// <summary>What went wrong on the SSH side (ssh's own words, or why it could not run); null while nothing did.</summary>
    public string? Failure { get; set; }

    /// <summary>
    /// Starts the session for the KB's SSH remote on this thread. Fails with <see cref="ReasonCodes.AuthFailed"/>
    /// when the KB's key variable is missing or holds no key, before any connection is made.
    /// </summary>
    public static SshSession Begin(KbRemote kb, RemoteAddress address, RemoteRules rules, TimeSpan connectTimeout, TimeSpan limit, CancellationToken cancellationToken)
    {
        var value = kb.TokenEnv is null ? null : Environment.GetEnvironmentVariable(kb.TokenEnv);
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new GitFailure(ReasonCodes.AuthFailed, $"KB '{kb.Id}': the SSH remote {kb.RemoteUrl} needs a deploy key, but {(kb.TokenEnv is null ? "the KB was registered without --token-env (the variable that holds its private key on the workers)" : $"the environment variable {kb.TokenEnv} is not set on this worker")}.");
        }

        var knownHosts = Path.GetFullPath(rules.Options.KnownHostsFile!);
        if (!File.Exists(knownHosts))
        {
            throw new GitFailure(ReasonCodes.RemoteNotAllowed, $"KB '{kb.Id}': the known-hosts file {knownHosts} (Remotes__KnownHostsFile) does not exist on this worker, so no SSH host key can be checked; nothing was fetched or pushed.");
        }

        SshKeyFile key;
        try
        {
            key = SshKeyFile.Write(value);
        }
        catch (FormatException problem)
        {
            throw new GitFailure(ReasonCodes.AuthFailed, $"KB '{kb.Id}': the environment variable {kb.TokenEnv} on this worker is not an SSH private key: {problem.Message}.");
        }

        var session = new SshSession(kb.RemoteUrl!, address, key, knownHosts, connectTimeout, limit, cancellationToken);
        _current = session;
        return session;
    }

    public void Dispose()
    {
        if (ReferenceEquals(_current, this))
        {
            _current = null;
        }

        _key.Dispose();
        _deadline.Dispose();
    }
}

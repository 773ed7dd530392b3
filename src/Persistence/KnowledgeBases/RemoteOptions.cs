namespace KbSync.Persistence.KnowledgeBases;

/// <summary>
/// Which remotes a KB may have and which secrets it may name (section <c>Remotes</c>, e.g.
/// <c>Remotes__AllowedHosts__0=github.com</c>). Bound in Persistence, so the registry (the CLI and the
/// API) and every worker read the same rules from the same settings: the registry refuses a KB that
/// breaks them, and a worker refuses to fetch or push for one that got into the database anyway.
/// Every default is the closed one: no network host, no http, no local remote.
/// </summary>
public sealed class RemoteOptions
{
    public const string Section = "Remotes";

    /// <summary>The default <see cref="TokenEnvPrefix"/>.</summary>
    public const string DefaultTokenEnvPrefix = "KBSYNC_TOKEN_";

    /// <summary>
    /// Hosts that https (and ssh) remotes may name: <c>github.com</c> (any port) or <c>git.example.com:8443</c>
    /// (that port only), compared without case. Empty (the default): no network remote is allowed, so a
    /// caller cannot point a KB, and the token it names, at a server of their own.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>
    /// Allow <c>http://</c> remotes on the allowed hosts. Off by default: over http the token (and every
    /// note) crosses the network in clear text. The test suite turns it on for its loopback git server.
    /// </summary>
    public bool AllowHttp { get; set; }

    /// <summary>
    /// The folder local remotes (paths, <c>file://</c> URLs) must be in, symlinks resolved. Unset (the
    /// default): local remotes are refused, since the worker would write into any repository its user can reach.
    /// </summary>
    public string? LocalRoot { get; set; }

    /// <summary>
    /// The prefix every token variable (<c>--token-env</c>) must have, so a KB cannot name
    /// <c>ConnectionStrings__KbSync</c> or another service's secret. Empty allows any name: for test
    /// suites that predate the rule only, never in production.
    /// </summary>
    public string TokenEnvPrefix { get; set; } = DefaultTokenEnvPrefix;

    /// <summary>
    /// An OpenSSH known-hosts file: the only host keys an SSH remote may present. Unset: SSH remotes are refused.
    /// </summary>
    public string? KnownHostsFile { get; set; }

    /// <summary>
    /// Worker data folders local remotes must never be inside (clones, lock files, agent runs): the
    /// <c>KbWorker__DataPath</c> of this process's settings, filled in from the configuration when the
    /// options are bound. Every worker also marks its own data folder (<see cref="LocalRemotePaths.WorkerDataMarker"/>),
    /// so the data folders of other workers on this machine are refused too.
    /// </summary>
    public List<string> WorkerDataPaths { get; set; } = [];
}

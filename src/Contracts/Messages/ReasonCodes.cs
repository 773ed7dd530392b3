namespace KbSync.Contracts;

/// <summary>Stable reason codes of <see cref="OperationFailed"/>: clients may switch on them.</summary>
public static class ReasonCodes
{
    /// <summary>
    /// The request's publisher is not allowed to do this: no broker-validated user id, a broker user that
    /// is no principal (or a disabled one), or no <c>write</c>/<c>agent</c> grant on the KB. Nothing was done.
    /// </summary>
    public const string Unauthorized = "unauthorized";
    /// <summary>The request itself is wrong (missing text, bad KB id, bad category...).</summary>
    public const string InvalidRequest = "invalid_request";
    /// <summary>The message body could not be read as a request at all.</summary>
    public const string MalformedMessage = "malformed_message";
    /// <summary>No KB with that id is registered.</summary>
    public const string UnknownKb = "unknown_kb";
    /// <summary>The remote answered, but there is no repository there (missing path, HTTP 404).</summary>
    public const string RemoteNotFound = "remote_not_found";
    /// <summary>The remote could not be reached (DNS, refused connection, broken transfer).</summary>
    public const string RemoteUnreachable = "remote_unreachable";
    /// <summary>
    /// The KB's remote breaks the workers' remote rules (a host not on <c>Remotes__AllowedHosts</c>, http,
    /// a local path outside <c>Remotes__LocalRoot</c> or inside a worker's data folder, a token variable
    /// without the prefix, an invalid branch), or an SSH remote's host key is not in <c>Remotes__KnownHostsFile</c>.
    /// Nothing was fetched or pushed.
    /// </summary>
    public const string RemoteNotAllowed = "remote_not_allowed";
    /// <summary>The remote exists but refused our credentials, or a token variable is missing.</summary>
    public const string AuthFailed = "auth_failed";
    /// <summary>The remote refused the push for a reason other than a race (hook, permissions).</summary>
    public const string PushRejected = "push_rejected";
    /// <summary>Someone else kept writing first: the bounded replays were all used up.</summary>
    public const string NonFastForward = "non_fast_forward";
    /// <summary>A git network call passed its deadline.</summary>
    public const string NetworkTimeout = "network_timeout";
    /// <summary>A stale lock file in the worker's clone could not be removed.</summary>
    public const string WorkingCopyLocked = "working_copy_locked";
    /// <summary>The remote branch is locked by another writer (git's ref lock) for longer than a push may wait.</summary>
    public const string RemoteLocked = "remote_locked";
    /// <summary>A file stands where the request needs a folder, or a folder where it needs a file; nothing was committed.</summary>
    public const string PathConflict = "path_conflict";
    /// <summary>The KB lock could not be acquired in time.</summary>
    public const string LockTimeout = "lock_timeout";
    /// <summary>The operation passed its deadline.</summary>
    public const string TimedOut = "timed_out";
    /// <summary>The worker's clone is unusable and will be re-cloned.</summary>
    public const string CorruptClone = "corrupt_clone";
    /// <summary>No agent of that name is configured on the workers.</summary>
    public const string UnknownAgent = "unknown_agent";
    /// <summary>An agent operation failed (a file missing, a stale expected hash...) or the external agent exited with an error; nothing was committed.</summary>
    public const string AgentFailed = "agent_failed";
    /// <summary>The agent's changes were refused (outside the KB, under .git, a symlink, too large); nothing was committed.</summary>
    public const string AgentRefused = "agent_refused";
    /// <summary>
    /// The agent's changes create, change or delete a protected path of the KB (<c>.gitmodules</c>, <c>.github/</c>,
    /// KbSync's index…), and the request's principal has no <c>manage</c> right on the KB; nothing was committed.
    /// </summary>
    public const string ProtectedPath = "protected_path";
    /// <summary>The external agent ran past its time limit; its process tree was killed and nothing was committed.</summary>
    public const string AgentTimedOut = "agent_timed_out";
    /// <summary>Any other failure in the worker; the message says what.</summary>
    public const string InternalError = "internal_error";
}

using KbSync.Contracts;
using KbSync.KbWorker.Failures;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A git failure as a domain error: a stable reason code (one of <see cref="ReasonCodes"/>)
/// and a message a user can act on. Messages name the KB and the remote as registered (which never
/// holds a credential), never a token.
/// </summary>
public sealed class GitFailure(string reasonCode, string message, Exception? inner = null) : OperationFailure(reasonCode, message, inner)
{
    /// <summary>Turns a libgit2 error during a network call into a domain error (the messages matched are libgit2's own).</summary>
    public static GitFailure FromNetwork(Exception error, string kbId, string remote, string action)
    {
        if (error is GitFailure failure)
        {
            return failure;
        }

        var detail = error.Message.Trim();
        var (code, message) = Classify(detail.ToLowerInvariant()) switch
        {
            ReasonCodes.AuthFailed => (ReasonCodes.AuthFailed, $"KB '{kbId}': the remote {remote} refused the credentials during {action} ({detail}). Check the token variable named at registration (--token-env) on the workers."),
            ReasonCodes.NetworkTimeout => (ReasonCodes.NetworkTimeout, $"KB '{kbId}': {action} of {remote} timed out ({detail})."),
            ReasonCodes.RemoteNotFound => (ReasonCodes.RemoteNotFound, $"KB '{kbId}': there is no repository at {remote} ({detail}). Check the remote registered with 'kbsync kb add'."),
            _ => (ReasonCodes.RemoteUnreachable, $"KB '{kbId}': {action} of {remote} failed: {detail}"),
        };
        return new GitFailure(code, message, error);
    }

    /// <summary>
    /// A failed SSH connection, from what <c>ssh</c> said on its standard error: an unknown or changed host
    /// key is <see cref="ReasonCodes.RemoteNotAllowed"/> (the worker would not talk to that server), a
    /// refused key <see cref="ReasonCodes.AuthFailed"/>, the rest as for any network failure.
    /// </summary>
    public static GitFailure FromSsh(string said, KbRemote kb, string knownHostsFile, string action, Exception error)
    {
        var lower = said.ToLowerInvariant();
        if (lower.Contains("host key verification failed") || lower.Contains("host key is known") || lower.Contains("remote host identification has changed"))
        {
            return new GitFailure(ReasonCodes.RemoteNotAllowed, $"KB '{kb.Id}': the SSH server {kb.RemoteUrl} did not show a host key listed for it in {knownHostsFile} (Remotes__KnownHostsFile), so the worker did not talk to it; nothing was fetched or pushed. If the server is the right one, add its key there (compare ssh-keyscan's output with the fingerprint its operator publishes). ssh said: {said}", error);
        }

        if (lower.Contains("permission denied"))
        {
            return new GitFailure(ReasonCodes.AuthFailed, $"KB '{kb.Id}': the SSH server {kb.RemoteUrl} refused the deploy key in {kb.TokenEnv} during {action}. Check that key's public half is a deploy key (with write access) of the repository. ssh said: {said}", error);
        }

        var failure = FromNetwork(new LibGit2SharpException(said, error), kb.Id, kb.RemoteUrl ?? "(none)", action);
        return new GitFailure(failure.ReasonCode, failure.Message, error);
    }

    private static string Classify(string message) => message switch
    {
        _ when message.Contains("authentication") || message.Contains("credentials") || message.Contains("401") || message.Contains("403") => ReasonCodes.AuthFailed,
        _ when message.Contains("timed out") || message.Contains("timeout") => ReasonCodes.NetworkTimeout,
        // libgit2 says "unsupported URL protocol" for a local path with no repository at it
        _ when message.Contains("could not find repository") || message.Contains("not found") || message.Contains("404") || message.Contains("does not exist") ||
               message.Contains("unsupported url protocol") || message.Contains("does not appear to be a git repository") => ReasonCodes.RemoteNotFound,
        _ => ReasonCodes.RemoteUnreachable,
    };
}

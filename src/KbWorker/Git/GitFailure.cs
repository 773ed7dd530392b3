using KbSync.Contracts;
using KbSync.KbWorker.Failures;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A git failure as a domain error: a stable <see cref="ReasonCode"/> (one of <see cref="ReasonCodes"/>)
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

    private static string Classify(string message) => message switch
    {
        _ when message.Contains("authentication") || message.Contains("credentials") || message.Contains("401") || message.Contains("403") => ReasonCodes.AuthFailed,
        _ when message.Contains("timed out") || message.Contains("timeout") => ReasonCodes.NetworkTimeout,
        // libgit2 says "unsupported URL protocol" for a local path with no repository at it
        _ when message.Contains("could not find repository") || message.Contains("not found") || message.Contains("404") || message.Contains("does not exist") ||
               message.Contains("unsupported url protocol") => ReasonCodes.RemoteNotFound,
        _ => ReasonCodes.RemoteUnreachable,
    };
}

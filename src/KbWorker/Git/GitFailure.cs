using KbSync.Contracts;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// A git failure as a domain error: a stable <see cref="ReasonCode"/> (one of <see cref="ReasonCodes"/>)
/// and a message a user can act on. Messages name the KB and the remote as registered (which never
/// holds a credential), never a token.
/// </summary>
public sealed class GitFailure(string reasonCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public string ReasonCode { get; } = reasonCode;

    /// <summary>Turns a libgit2 error during a network call into a domain error.</summary>
    public static GitFailure FromNetwork(Exception error, string kbId, string remote, string action)
    {
        var detail = error.Message.Trim();
        var lower = detail.ToLowerInvariant();
        if (error is GitFailure failure)
        {
            return failure;
        }

        if (lower.Contains("401") || lower.Contains("403") || lower.Contains("authentication") || lower.Contains("credentials") || lower.Contains("permission denied"))
        {
            return new GitFailure(ReasonCodes.AuthFailed, $"KB '{kbId}': the remote {remote} refused the credentials during {action}. Check the token variable named at registration (--token-env) on the workers.", error);
        }

        if (lower.Contains("timed out") || lower.Contains("timeout"))
        {
            return new GitFailure(ReasonCodes.NetworkTimeout, $"KB '{kbId}': {action} of {remote} timed out.", error);
        }

        if (error is RepositoryNotFoundException || lower.Contains("not found") || lower.Contains("does not exist") || lower.Contains("could not find repository") ||
            lower.Contains("failed to resolve") || lower.Contains("could not resolve") || lower.Contains("failed to connect") || lower.Contains("connection refused") ||
            lower.Contains("no such file"))
        {
            return new GitFailure(ReasonCodes.RemoteUnreachable, $"KB '{kbId}': the remote {remote} could not be reached during {action}: {detail}", error);
        }

        return new GitFailure(ReasonCodes.RemoteUnreachable, $"KB '{kbId}': {action} of {remote} failed: {detail}", error);
    }
}

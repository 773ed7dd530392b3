namespace KbSync.Persistence.KnowledgeBases;

/// <summary>
/// Checks a KB remote as given by a user: an https/http/ssh/file URL, an scp-like <c>git@host:path</c>,
/// or a local path (made absolute). Credentials in the URL are refused: tokens live in an
/// environment variable named at registration, never in a URL, <c>.git/config</c> or the database.
/// </summary>
public static class RemoteUrls
{
    public static string Normalize(string remote)
    {
        remote = remote.Trim();
        if (remote.Length == 0)
        {
            throw new ArgumentException("The remote is empty.");
        }

        if (remote.Contains("://", StringComparison.Ordinal))
        {
            if (!Uri.TryCreate(remote, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http" or "ssh" or "file" or "git"))
            {
                throw new ArgumentException("The remote must be an https, http, ssh, git or file URL, an scp-like git@host:path, or a local path.");
            }

            if (uri.UserInfo.Contains(':', StringComparison.Ordinal) || (uri.Scheme is "https" or "http" && uri.UserInfo.Length > 0))
            {
                throw new ArgumentException("The remote URL must not carry credentials: put the token in an environment variable on the workers and pass its name with --token-env.");
            }

            return remote;
        }

        if (IsScpLike(remote))
        {
            return remote;
        }

        return Path.GetFullPath(remote);
    }

    /// <summary>True for a remote on this machine's file system (path or file URL).</summary>
    public static bool IsLocal(string remote) =>
        remote.StartsWith("file://", StringComparison.OrdinalIgnoreCase) || Path.IsPathRooted(remote);

    private static bool IsScpLike(string remote)
    {
        var colon = remote.IndexOf(':');
        var slash = remote.IndexOf('/');
        return colon > 0 && (slash < 0 || colon < slash) && !Path.IsPathRooted(remote);
    }
}

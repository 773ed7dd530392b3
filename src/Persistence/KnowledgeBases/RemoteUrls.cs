namespace KbSync.Persistence.KnowledgeBases;

/// <summary>How the worker reaches a remote.</summary>
public enum RemoteKind
{
    Https,
    Http,
    /// <summary><c>ssh://[user@]host[:port]/path</c> or scp-like <c>[user@]host:path</c>.</summary>
    Ssh,
    /// <summary>A path or <c>file://</c> URL on this machine.</summary>
    Local,
}

/// <summary>
/// A remote taken apart. <see cref="Path"/> is the repository's path on the host (for
/// <see cref="RemoteKind.Local"/>: the absolute path on this machine, symlinks not yet resolved).
/// <see cref="Port"/> is null when the URL names none.
/// </summary>
public sealed record RemoteAddress(RemoteKind Kind, string? Host, int? Port, string? User, string Path)
{
    /// <summary><c>host</c> or <c>host:port</c>, for messages.</summary>
    public string Where => Kind == RemoteKind.Local ? Path : Port is { } port ? $"{Host}:{port}" : Host!;
}

/// <summary>
/// Reads a KB remote as given by a user: an https, http or ssh URL, an scp-like <c>git@host:path</c>,
/// a <c>file://</c> URL or a local path (made absolute). Only the form is checked here: whatever could
/// carry a credential is refused (userinfo in an http(s) URL, a password in an ssh URL or scp-like
/// address, query strings and fragments), since tokens live in an environment variable named at
/// registration, never in a URL, <c>.git/config</c>, the database or a log. Which hosts and folders
/// are allowed is <see cref="RemoteRules"/>' business.
/// </summary>
public static class RemoteUrls
{
    private const string CredentialsRefused =
        "The remote must not carry credentials: put the token (or SSH key) in an environment variable on the workers and pass its name with --token-env.";

    /// <summary>Checks the remote's form; returns it as stored (a local path made absolute).</summary>
    public static string Normalize(string remote)
    {
        remote = remote.Trim();
        Parse(remote);
        return IsUrl(remote) || IsScpLike(remote) ? remote : System.IO.Path.GetFullPath(remote);
    }

    /// <summary>Takes a remote apart; throws <see cref="RemoteNotAllowedException"/> for one KbSync refuses whatever the settings.</summary>
    public static RemoteAddress Parse(string remote)
    {
        if (string.IsNullOrWhiteSpace(remote))
        {
            throw new RemoteNotAllowedException("The remote is empty.");
        }

        if (remote.Any(char.IsControl))
        {
            throw new RemoteNotAllowedException("The remote contains a control character.");
        }

        if (IsUrl(remote))
        {
            return ParseUrl(remote);
        }

        return IsScpLike(remote) ? ParseScpLike(remote) : ParseLocalPath(remote);
    }

    /// <summary>True for a remote on this machine's file system (path or file URL).</summary>
    public static bool IsLocal(string remote) =>
        remote.StartsWith("file://", StringComparison.OrdinalIgnoreCase) || System.IO.Path.IsPathRooted(remote);

    /// <summary>The path of a local remote (a path, or the path of a <c>file://</c> URL).</summary>
    public static string LocalPath(string remote) =>
        remote.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(remote).LocalPath : remote;

    /// <summary>
    /// True when two remotes name the same repository as far as can be told: the same host and port
    /// (or, for local remotes, the same folder once symlinks are resolved) and the same path, without
    /// case, a trailing <c>/</c> or <c>.git</c>. Remotes that cannot be read are never the same.
    /// </summary>
    public static bool SameRepository(string a, string b)
    {
        try
        {
            return Identity(Parse(a)) == Identity(Parse(b));
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static string Identity(RemoteAddress address)
    {
        var path = address.Kind == RemoteKind.Local ? LocalRemotePaths.Resolve(address.Path) : address.Path;
        path = path.TrimEnd('/');
        path = path.EndsWith(".git", StringComparison.OrdinalIgnoreCase) ? path[..^4] : path;
        path = path.TrimEnd('/').TrimStart('/');
        return $"{(address.Kind == RemoteKind.Local ? "local" : "net")}|{address.Host}|{address.Port}|{path}".ToLowerInvariant();
    }

    private static bool IsUrl(string remote) => remote.Contains("://", StringComparison.Ordinal);

    private static RemoteAddress ParseUrl(string remote)
    {
        var scheme = remote[..remote.IndexOf("://", StringComparison.Ordinal)].ToLowerInvariant();
        var kind = scheme switch
        {
            "https" => RemoteKind.Https,
            "http" => RemoteKind.Http,
            "ssh" => RemoteKind.Ssh,
            "file" => RemoteKind.Local,
            _ => throw new RemoteNotAllowedException($"'{scheme}://' remotes are not supported: use an https:// or ssh:// URL, an scp-like git@host:path, a file:// URL or a local path."),
        };

        if (!Uri.TryCreate(remote, UriKind.Absolute, out var uri))
        {
            throw new RemoteNotAllowedException("The remote is not a valid URL.");
        }

        // checked on the text too: Uri drops an empty '?' or '#'
        if (uri.Query.Length > 0 || uri.Fragment.Length > 0 || remote.Contains('?') || remote.Contains('#'))
        {
            throw new RemoteNotAllowedException("The remote URL must not have a query string or a fragment: they can carry credentials, and a git remote needs neither.");
        }

        if (kind == RemoteKind.Local)
        {
            if (uri.Host.Length > 0 || uri.UserInfo.Length > 0)
            {
                throw new RemoteNotAllowedException("A file:// URL must name a path on this machine (file:///srv/kbs/team.git), not a host.");
            }

            return ParseLocalPath(uri.LocalPath);
        }

        var user = uri.UserInfo.Length == 0 ? null : uri.UserInfo;
        if (user is not null && (kind != RemoteKind.Ssh || !IsPlainUser(user)))
        {
            throw new RemoteNotAllowedException(CredentialsRefused);
        }

        var host = CheckHost(uri.IdnHost);
        var path = Uri.UnescapeDataString(uri.AbsolutePath);
        if (kind == RemoteKind.Ssh)
        {
            CheckSshPath(path);
        }

        return new RemoteAddress(kind, host, uri.IsDefaultPort || uri.Port < 0 ? null : uri.Port, user, path);
    }

    /// <summary><c>[user@]host:path</c>, as git reads it: the colon comes before any slash.</summary>
    private static RemoteAddress ParseScpLike(string remote)
    {
        var slash = remote.IndexOf('/');
        var beforePath = slash < 0 ? remote : remote[..slash];
        string? user = null;
        var at = beforePath.IndexOf('@');
        if (at >= 0)
        {
            user = remote[..at];
            remote = remote[(at + 1)..];
            if (!IsPlainUser(user))
            {
                throw new RemoteNotAllowedException(CredentialsRefused);
            }
        }

        var colon = remote.IndexOf(':');
        if (colon <= 0)
        {
            throw new RemoteNotAllowedException("The remote is not an scp-like address ([user@]host:path).");
        }

        var host = remote[..colon];
        if (!host.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-'))
        {
            throw new RemoteNotAllowedException($"'{host}' is not a host name; use an ssh:// URL for anything but [user@]host:path.");
        }

        var path = remote[(colon + 1)..];
        CheckSshPath(path);
        return new RemoteAddress(RemoteKind.Ssh, CheckHost(host), null, user, path);
    }

    private static RemoteAddress ParseLocalPath(string path)
    {
        if (path.Contains(':'))
        {
            throw new RemoteNotAllowedException("A local remote's path must not contain ':' (libgit2 would take it for an SSH address).");
        }

        if (path.Split('/', '\\').Any(part => part == ".."))
        {
            throw new RemoteNotAllowedException("A local remote's path must not contain '..': give the path itself.");
        }

        return new RemoteAddress(RemoteKind.Local, null, null, null, System.IO.Path.GetFullPath(path));
    }

    private static string CheckHost(string host)
    {
        host = host.TrimEnd('.').ToLowerInvariant();
        if (host.Length == 0 || host.StartsWith('-'))
        {
            throw new RemoteNotAllowedException("The remote URL has no valid host.");
        }

        return host;
    }

    /// <summary>
    /// The path becomes part of the command the SSH server runs (<c>git-upload-pack '&lt;path&gt;'</c>):
    /// quotes, <c>!</c> and a leading <c>-</c> are refused rather than escaped.
    /// </summary>
    private static void CheckSshPath(string path)
    {
        var bare = path.TrimStart('/');
        if (bare.Length == 0 || bare[0] is '-' or ':' || path.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '!' or '\\' or '`' or '$' or ';'))
        {
            throw new RemoteNotAllowedException("The SSH remote's path must be a plain repository path (no spaces, quotes, '!', '\\', '`', '$' or ';', not starting with '-' or ':').");
        }
    }

    /// <summary>An SSH login name; anything with ':' (a password) or '%' (an encoded one) is refused.</summary>
    private static bool IsPlainUser(string user) =>
        user.Length is > 0 and <= 64 && !user.StartsWith('-') && user.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private static bool IsScpLike(string remote)
    {
        var colon = remote.IndexOf(':');
        var slash = remote.IndexOf('/');
        return colon > 0 && (slash < 0 || colon < slash) && !System.IO.Path.IsPathRooted(remote);
    }
}

/// <summary>A remote (or token variable) the rules refuse; an <see cref="ArgumentException"/>, so the CLI exits with 2 and the API answers 400.</summary>
public sealed class RemoteNotAllowedException(string message) : ArgumentException(message);

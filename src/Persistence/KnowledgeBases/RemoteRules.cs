using KbSync.Persistence.Entities;
using Microsoft.Extensions.Options;

namespace KbSync.Persistence.KnowledgeBases;

/// <summary>
/// The rules a KB's remote, branch and token variable must keep (<see cref="RemoteOptions"/>): checked
/// by the registry when a KB is registered (<c>kbsync kb add</c>, <c>POST /kbs</c>), and by the worker
/// before every fetch or push, since a row can reach the database by other ways. Each refusal is a
/// <see cref="RemoteNotAllowedException"/> that says which rule and which setting.
/// </summary>
public sealed class RemoteRules
{
    private readonly RemoteOptions _options;
    private readonly IReadOnlyList<(string Host, int? Port)> _allowedHosts;

    public RemoteRules(IOptions<RemoteOptions> options)
        : this(options.Value)
    {
    }

    public RemoteRules(RemoteOptions options)
    {
        _options = options;
        _allowedHosts = options.AllowedHosts.Where(h => !string.IsNullOrWhiteSpace(h)).Select(ParseHostEntry).ToList();
    }

    public RemoteOptions Options => _options;

    /// <summary>These rules, with one more worker data folder refused (a worker adds its own).</summary>
    public RemoteRules WithWorkerDataPath(string path) => new(new RemoteOptions
    {
        AllowedHosts = _options.AllowedHosts,
        AllowHttp = _options.AllowHttp,
        LocalRoot = _options.LocalRoot,
        TokenEnvPrefix = _options.TokenEnvPrefix,
        KnownHostsFile = _options.KnownHostsFile,
        WorkerDataPaths = [.. _options.WorkerDataPaths, path],
    });

    /// <summary>Checks a remote as given at registration; returns it as it is stored.</summary>
    public string CheckRemote(string remote)
    {
        var normalized = RemoteUrls.Normalize(remote);
        Check(RemoteUrls.Parse(normalized));
        return normalized;
    }

    /// <summary>Checks a token variable's name; null stays null.</summary>
    public string? CheckTokenEnv(string? name)
    {
        if (name is null)
        {
            return null;
        }

        if (name.Length is 0 or > 250 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') || char.IsAsciiDigit(name[0]))
        {
            throw new RemoteNotAllowedException($"The token variable is not an environment variable name (letters, digits and '_', not starting with a digit). Pass the variable's name, never the token itself.");
        }

        var prefix = _options.TokenEnvPrefix ?? "";
        if (!name.StartsWith(prefix, StringComparison.Ordinal) || name.Length == prefix.Length)
        {
            throw new RemoteNotAllowedException($"The token variable must start with '{prefix}' (Remotes__TokenEnvPrefix), e.g. {prefix}TEAM_NOTES: a KB may name only variables meant for KB tokens, never another secret of the workers (such as ConnectionStrings__KbSync).");
        }

        return name;
    }

    /// <summary>Everything about a registered KB: its remote, branch and token variable. Throws <see cref="RemoteNotAllowedException"/>.</summary>
    public void Check(KnowledgeBaseRecord kb)
    {
        if (BranchNames.Problem(kb.Branch) is { } problem)
        {
            throw new RemoteNotAllowedException($"'{kb.Branch}' is not a valid git branch name: {problem}.");
        }

        CheckTokenEnv(kb.TokenEnv);
        if (kb.RemoteUrl is { } remote)
        {
            Check(RemoteUrls.Parse(remote));
        }
    }

    /// <summary>Checks a remote taken apart by <see cref="RemoteUrls.Parse"/> against the settings.</summary>
    public void Check(RemoteAddress address)
    {
        switch (address.Kind)
        {
            case RemoteKind.Http when !_options.AllowHttp:
                throw new RemoteNotAllowedException($"http:// remotes are refused: the token and every note would cross the network in clear text. Use https://{address.Where}{address.Path} (or set Remotes__AllowHttp=true for a trusted network).");
            case RemoteKind.Ssh when string.IsNullOrWhiteSpace(_options.KnownHostsFile):
                throw new RemoteNotAllowedException("SSH remotes need Remotes__KnownHostsFile: the workers check the server's host key against it.");
            case RemoteKind.Local:
                CheckLocal(address.Path);
                return;
        }

        if (!IsAllowedHost(address.Host!, address.Port))
        {
            throw new RemoteNotAllowedException(_allowedHosts.Count == 0
                ? $"The host {address.Where} is not allowed: no network remote is (Remotes__AllowedHosts is empty)."
                : $"The host {address.Where} is not allowed: Remotes__AllowedHosts lists {string.Join(", ", _options.AllowedHosts)}.");
        }
    }

    /// <summary>
    /// Whether the server at <paramref name="askingUrl"/> (the URL libgit2 is talking to when it asks for
    /// credentials: after a redirect, not the registered one) may be given the KB's token: only the
    /// registered remote's own scheme, host and port, over https (or http where allowed), on an allowed host.
    /// </summary>
    public bool MayReceiveToken(string registeredRemote, string askingUrl, out string reason)
    {
        reason = "";
        RemoteAddress registered;
        try
        {
            registered = RemoteUrls.Parse(registeredRemote);
            Check(registered);
        }
        catch (RemoteNotAllowedException error)
        {
            reason = error.Message;
            return false;
        }

        if (registered.Kind is not (RemoteKind.Https or RemoteKind.Http) || !Uri.TryCreate(askingUrl, UriKind.Absolute, out var asking))
        {
            reason = $"credentials were asked for over {Origin(askingUrl)}, which is not an http(s) remote";
            return false;
        }

        var scheme = registered.Kind == RemoteKind.Https ? "https" : "http";
        var port = registered.Port ?? (scheme == "https" ? 443 : 80);
        if (!asking.Scheme.Equals(scheme, StringComparison.OrdinalIgnoreCase) || !asking.IdnHost.TrimEnd('.').Equals(registered.Host, StringComparison.OrdinalIgnoreCase) || asking.Port != port)
        {
            reason = $"credentials were asked for by {Origin(askingUrl)}, not by the KB's registered remote {scheme}://{registered.Host}:{port} (a redirect, or a server that is not the KB's)";
            return false;
        }

        return true;
    }

    private void CheckLocal(string path)
    {
        if (string.IsNullOrWhiteSpace(_options.LocalRoot))
        {
            throw new RemoteNotAllowedException("Local remotes are refused: Remotes__LocalRoot is not set (local paths and file:// URLs must be in that folder).");
        }

        var resolved = LocalRemotePaths.Resolve(path);
        var root = LocalRemotePaths.Resolve(_options.LocalRoot);
        var shown = resolved == path ? path : $"{path} (really {resolved})";
        if (!LocalRemotePaths.IsWithin(resolved, root) || resolved == root)
        {
            throw new RemoteNotAllowedException($"The local remote {shown} is outside Remotes__LocalRoot ({root}).");
        }

        foreach (var data in _options.WorkerDataPaths.Where(p => !string.IsNullOrWhiteSpace(p)).Append(Path.Combine(".state", "kbworker")).Select(LocalRemotePaths.Resolve))
        {
            if (LocalRemotePaths.IsWithin(resolved, data))
            {
                throw new RemoteNotAllowedException($"The local remote {shown} is inside the worker data folder {data}: no KB may write into the workers' clones.");
            }
        }

        if (LocalRemotePaths.MarkedWorkerData(resolved) is { } marked)
        {
            throw new RemoteNotAllowedException($"The local remote {shown} is inside the worker data folder {marked}: no KB may write into the workers' clones.");
        }

        var checkout = LocalRemotePaths.Checkout();
        if (checkout.WorkingFolders.Contains(resolved) || checkout.GitFolders.Any(git => LocalRemotePaths.IsWithin(resolved, git)))
        {
            throw new RemoteNotAllowedException($"The local remote {shown} is KbSync's own repository.");
        }
    }

    private bool IsAllowedHost(string host, int? port) =>
        _allowedHosts.Any(allowed => allowed.Host.Equals(host, StringComparison.OrdinalIgnoreCase) && (allowed.Port is null || allowed.Port == port));

    /// <summary><c>host</c>, <c>host:port</c> or <c>[v6]:port</c>.</summary>
    private static (string Host, int? Port) ParseHostEntry(string entry)
    {
        entry = entry.Trim().TrimEnd('.');
        var colon = entry.LastIndexOf(':');
        var bracket = entry.LastIndexOf(']');
        if (colon > bracket && int.TryParse(entry[(colon + 1)..], out var port))
        {
            return (entry[..colon].Trim('[', ']').ToLowerInvariant(), port);
        }

        return (entry.Trim('[', ']').ToLowerInvariant(), null);
    }

    /// <summary>The scheme, host and port of a URL, without anything else it carries.</summary>
    private static string Origin(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? $"{uri.Scheme}://{uri.IdnHost}:{uri.Port}" : "an address that is not a URL";
}

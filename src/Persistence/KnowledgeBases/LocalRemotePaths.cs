namespace KbSync.Persistence.KnowledgeBases;

/// <summary>
/// Where a local remote really is, and the places on this machine no KB may write into. A path is
/// judged after every symlink on it is resolved (a link inside the root that points at a worker's
/// clone is the clone), and judged again by the worker before each use, since links can change.
/// </summary>
public static class LocalRemotePaths
{
    /// <summary>
    /// A file every worker keeps at the top of its data folder (<c>KbWorker__DataPath</c>). A local remote
    /// inside a folder holding it is refused, so the data folders of every worker that ever ran on this
    /// machine are refused, whatever settings the registering process has.
    /// </summary>
    public const string WorkerDataMarker = ".kbsync-worker-data";

    private const int MaxLinks = 40;

    /// <summary>
    /// The absolute path with every symlink resolved, as far as the path exists (the missing rest is
    /// appended as given, so a remote yet to be created is judged by the folder it will be in).
    /// </summary>
    public static string Resolve(string path)
    {
        var links = 0;
        return Resolve(Path.GetFullPath(path), ref links);
    }

    private static string Resolve(string fullPath, ref int links)
    {
        var root = Path.GetPathRoot(fullPath)!;
        var current = root;
        foreach (var part in fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? root; // after resolving: the parent of the real folder
                continue;
            }

            var next = Path.Combine(current, part);
            var target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                current = next;
                continue;
            }

            if (++links > MaxLinks)
            {
                throw new RemoteNotAllowedException($"The local remote's path {fullPath} goes through more than {MaxLinks} symlinks.");
            }

            current = Resolve(Path.GetFullPath(target, current), ref links);
        }

        return current;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> or inside it (both resolved).</summary>
    public static bool IsWithin(string path, string folder)
    {
        var comparison = OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        folder = folder.TrimEnd(Path.DirectorySeparatorChar);
        return path.Equals(folder, comparison) || path.StartsWith(folder + Path.DirectorySeparatorChar, comparison) || folder.Length == 0;
    }

    /// <summary>The worker data folder holding <paramref name="resolvedPath"/>, found by its <see cref="WorkerDataMarker"/>; null when none does.</summary>
    public static string? MarkedWorkerData(string resolvedPath)
    {
        for (var folder = resolvedPath; !string.IsNullOrEmpty(folder); folder = Path.GetDirectoryName(folder))
        {
            if (File.Exists(Path.Combine(folder, WorkerDataMarker)))
            {
                return folder;
            }
        }

        return null;
    }

    /// <summary>
    /// The repository KbSync itself runs from (found upwards from the program's folder), resolved: its
    /// working folders (for a worktree, also the main checkout's), which a remote may not be, and its git
    /// folders, which a remote may not be in. Empty when the program does not run from a checkout.
    /// </summary>
    public static KbSyncCheckout Checkout() => CheckoutOfThisProgram.Value;

    private static readonly Lazy<KbSyncCheckout> CheckoutOfThisProgram = new(FindCheckout);

    private static KbSyncCheckout FindCheckout()
    {
        for (var folder = Resolve(AppContext.BaseDirectory); !string.IsNullOrEmpty(folder); folder = Path.GetDirectoryName(folder))
        {
            var dotGit = Path.Combine(folder, ".git");
            if (Directory.Exists(dotGit))
            {
                return new KbSyncCheckout([folder], [Resolve(dotGit)]);
            }

            if (File.Exists(dotGit) && File.ReadAllText(dotGit).Trim() is var text && text.StartsWith("gitdir:", StringComparison.Ordinal))
            {
                var gitDir = Resolve(Path.GetFullPath(text["gitdir:".Length..].Trim(), folder));
                var commonFile = Path.Combine(gitDir, "commondir");
                var common = File.Exists(commonFile) ? Resolve(Path.GetFullPath(File.ReadAllText(commonFile).Trim(), gitDir)) : gitDir;
                return new KbSyncCheckout([folder, Path.GetDirectoryName(common)!], [dotGit, gitDir, common]);
            }
        }

        return new KbSyncCheckout([], []);
    }
}

/// <summary>The KbSync repository on this machine: see <see cref="LocalRemotePaths.Checkout"/>.</summary>
public sealed record KbSyncCheckout(IReadOnlyList<string> WorkingFolders, IReadOnlyList<string> GitFolders);

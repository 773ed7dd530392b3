namespace KbSync.KbWorker.Agents.Sandbox;

/// <summary>
/// How the host's top-level system folders look, which decides how the sandbox shows them: on a merged-/usr
/// system (Debian 12) <c>/bin</c> is a symlink to <c>usr/bin</c> and the sandbox gets the same symlink; a real
/// folder is bound read-only; a missing one is left out.
/// </summary>
/// <param name="Links">Each top-level folder that is a symlink on the host, with its target.</param>
/// <param name="Folders">Each that is a real folder.</param>
public sealed record HostSystem(IReadOnlyDictionary<string, string> Links, IReadOnlyList<string> Folders)
{
    /// <summary>The top-level folders programs are loaded from, besides <c>/usr</c> (always bound).</summary>
    public static readonly IReadOnlyList<string> TopFolders = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

    /// <summary>This machine's layout.</summary>
    public static HostSystem Detect()
    {
        var links = new Dictionary<string, string>(StringComparer.Ordinal);
        var folders = new List<string>();
        foreach (var folder in TopFolders)
        {
            switch (FileMetadata.Of(folder)?.Kind)
            {
                case FileKind.Symlink:
                    links[folder] = new FileInfo(folder).LinkTarget!;
                    break;
                case FileKind.Directory:
                    folders.Add(folder);
                    break;
            }
        }

        return new HostSystem(links, folders);
    }
}

using System.Security.Cryptography;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Paths;

namespace KbSync.KbWorker.Agents;

/// <summary>
/// The KB as an agent task sees it: the clone's tip, with the task's own changes laid over it and
/// nothing written until <see cref="Changes"/> is committed, so a task is all or nothing. Every path
/// goes through <see cref="KbPathGuard"/>, and no path may lead through a symlink in the tree.
/// Folders exist as long as a file is in them (git keeps no empty folders: <c>create_folder</c>
/// writes a <c>.gitkeep</c>).
/// </summary>
public sealed class KbWorkspace(IKbClone clone)
{
    public const string FolderKeeper = ".gitkeep";

    private readonly Dictionary<string, byte[]?> _overlay = new(StringComparer.Ordinal);
    private KbEntry[]? _baseFiles;
    private List<string>? _specialEntries;

    /// <summary>
    /// Checks a path given by a task; throws <see cref="UnsafePathException"/> for an unsafe one (through
    /// a symlink or submodule) and <see cref="PathConflict"/> when a folder on the way is a file, in the
    /// tip or in this task's changes.
    /// </summary>
    public string Check(string? path)
    {
        var normalized = KbPathGuard.Normalize(path);
        var parts = normalized.Split('/');
        for (var i = 1; i <= parts.Length; i++)
        {
            var prefix = string.Join('/', parts[..i]);
            if (!_overlay.ContainsKey(prefix) && clone.Entry(prefix) is { Kind: KbEntryKind.Symlink or KbEntryKind.Submodule })
            {
                throw new UnsafePathException(UnsafePathReasons.Symlink, path, $"\"{prefix}\" is a symlink or submodule in the KB; paths may not lead through one.");
            }

            if (i < parts.Length && FileExists(prefix))
            {
                throw PathConflict.FileOnTheWay(prefix, normalized);
            }
        }

        return normalized;
    }

    /// <summary>Symlinks and submodules under a folder: the files agent reads past them but never moves or deletes them.</summary>
    public IEnumerable<string> SpecialEntriesUnder(string folder)
    {
        _specialEntries ??= clone.Files().Where(e => e.Kind is KbEntryKind.Symlink or KbEntryKind.Submodule).Select(e => e.Path).ToList();
        return _specialEntries.Where(p => folder.Length == 0 || p.StartsWith(folder + "/", StringComparison.Ordinal));
    }

    public bool FileExists(string path) =>
        _overlay.TryGetValue(path, out var content) ? content is not null : clone.Entry(path) is { Kind: KbEntryKind.File or KbEntryKind.Executable };

    public bool FolderExists(string path) => path.Length == 0 || FilesUnder(path).Any() || SpecialEntriesUnder(path).Any();

    /// <summary>A file (or symlink, submodule) under an existing folder, to name it in a message.</summary>
    public string AnyEntryUnder(string folder) => FilesUnder(folder).Concat(SpecialEntriesUnder(folder)).First();

    public byte[]? Read(string path) => _overlay.TryGetValue(path, out var content) ? content : clone.ReadBytes(path);

    /// <summary>The size of a file in bytes (null for no file), without reading it.</summary>
    public long? SizeOf(string path)
    {
        if (_overlay.TryGetValue(path, out var content))
        {
            return content?.Length;
        }

        var index = IndexOf(path);
        return index >= 0 ? BaseFiles[index].Size : null;
    }

    public void Write(string path, byte[] content) => _overlay[path] = content;

    public void Delete(string path) => _overlay[path] = null;

    /// <summary>Every file in the workspace, sorted (ordinally), lazily: a caller may stop, or check its deadline, between files.</summary>
    public IEnumerable<string> AllFiles() => FilesUnder("");

    /// <summary>
    /// The files under a folder, sorted, lazily. The tip's files are listed (and sorted) once per task and
    /// found by binary search; this task's writes are merged in. A task of many searches over a big KB
    /// then costs its reads, not a sort of the whole KB per operation.
    /// </summary>
    public IEnumerable<string> FilesUnder(string folder)
    {
        var prefix = folder.Length == 0 ? "" : folder + "/";
        var written = _overlay.Where(o => o.Value is not null && o.Key.StartsWith(prefix, StringComparison.Ordinal)).Select(o => o.Key).Order(StringComparer.Ordinal).ToList();
        var next = 0;
        var first = IndexOf(prefix); // the files under a folder sort right after "folder/" itself
        for (var i = first < 0 ? ~first : first; i < BaseFiles.Length && BaseFiles[i].Path.StartsWith(prefix, StringComparison.Ordinal); i++)
        {
            var path = BaseFiles[i].Path;
            for (; next < written.Count && string.CompareOrdinal(written[next], path) < 0; next++)
            {
                yield return written[next];
            }

            if (!_overlay.ContainsKey(path))
            {
                yield return path;
            }
        }

        for (; next < written.Count; next++)
        {
            yield return written[next];
        }
    }

    /// <summary>What differs from the tip: a file written back with the content it had is no change.</summary>
    public IReadOnlyList<TreeChange> Changes() =>
        _overlay.Where(o => o.Value is null ? clone.Entry(o.Key) is not null : !(WasInTip(o.Key) && clone.ReadBytes(o.Key)!.AsSpan().SequenceEqual(o.Value)))
            .Select(o => new TreeChange(o.Key, o.Value))
            .OrderBy(c => c.Path, StringComparer.Ordinal)
            .ToList();

    /// <summary>True when the path was a file in the tip, before this task's changes.</summary>
    public bool WasInTip(string path) => clone.Entry(path) is { Kind: KbEntryKind.File or KbEntryKind.Executable };

    public static string Hash(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>The tip's files (not symlinks or submodules), sorted ordinally: listed once per task.</summary>
    private KbEntry[] BaseFiles =>
        _baseFiles ??= clone.Files().Where(e => e.Kind is KbEntryKind.File or KbEntryKind.Executable).OrderBy(e => e.Path, StringComparer.Ordinal).ToArray();

    /// <summary>The index of a path among <see cref="BaseFiles"/>, or the bitwise complement of where it would be.</summary>
    private int IndexOf(string path)
    {
        var (low, high) = (0, BaseFiles.Length - 1);
        while (low <= high)
        {
            var middle = low + ((high - low) / 2);
            var order = string.CompareOrdinal(BaseFiles[middle].Path, path);
            if (order == 0)
            {
                return middle;
            }

            (low, high) = order < 0 ? (middle + 1, high) : (low, middle - 1);
        }

        return ~low;
    }
}

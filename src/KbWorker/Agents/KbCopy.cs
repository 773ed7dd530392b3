using KbSync.KbWorker.Git;
using KbSync.KbWorker.Paths;

namespace KbSync.KbWorker.Agents;

/// <summary>A file of the tip as written for the agent: its git blob id and size, to tell afterwards whether it changed.</summary>
public sealed record TipFile(string Sha, long Size);

/// <summary>
/// The copy of the KB's tip an external agent works on: its regular files, written into a folder. Symlinks and
/// submodules are not copied. A file whose name <see cref="KbPathGuard"/> refuses or rewrites (committed by someone
/// else: <c>a:b.md</c>, <c>CON.md</c>, <c>a\b.md</c>…) is not copied either, so the agent never sees it and cannot change it: the
/// commit leaves it as it is, and <see cref="Hidden"/> lists it for the task's summary.
/// </summary>
public sealed class KbCopy
{
    private KbCopy(Dictionary<string, TipFile> files, List<string> hidden)
    {
        Files = files;
        Hidden = hidden;
    }

    /// <summary>The files written, by KB-relative path.</summary>
    public IReadOnlyDictionary<string, TipFile> Files { get; }

    /// <summary>The tip's files left out because the path guard refuses their names, sorted.</summary>
    public IReadOnlyList<string> Hidden { get; }

    public static KbCopy Write(IKbClone clone, string folder)
    {
        Directory.CreateDirectory(folder);
        var files = new Dictionary<string, TipFile>(StringComparer.Ordinal);
        var hidden = new List<string>();
        foreach (var entry in clone.Files().Where(e => e.Kind is KbEntryKind.File or KbEntryKind.Executable))
        {
            string target;
            try
            {
                target = KbPathGuard.ResolveInside(folder, entry.Path);
            }
            catch (UnsafePathException)
            {
                hidden.Add(entry.Path);
                continue;
            }

            if (KbPathGuard.Normalize(entry.Path) != entry.Path)
            {
                hidden.Add(entry.Path); // a\b.md would come back as a/b.md: a move the agent never made
                continue;
            }

            var content = clone.ReadBytes(entry.Path)!;
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.WriteAllBytes(target, content);
            files[entry.Path] = new TipFile(entry.Sha, content.Length);
        }

        hidden.Sort(StringComparer.Ordinal);
        return new KbCopy(files, hidden);
    }

    /// <summary>The sentence the summary ends with when files were hidden; empty otherwise.</summary>
    public string HiddenNote() => Hidden.Count == 0
        ? ""
        : $"Not shown to the agent and left unchanged: {Hidden.Count} file(s) of the KB whose names KbSync refuses "
          + $"(rename them with git to let agents work on them): {string.Join(", ", Hidden.Take(20))}{(Hidden.Count > 20 ? ", …" : "")}.";
}

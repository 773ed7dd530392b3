using System.Buffers.Binary;
using LibGit2Sharp;

namespace KbSync.KbWorker.Git;

/// <summary>
/// The pack files of a worker's clone. Each group of commits is saved as one pack
/// (<see cref="Add"/>), and fetches add more; libgit2 has no <c>git gc</c>, and every object lookup
/// and write looks through every pack. So, when a clone is opened with more than
/// <see cref="KbWorkerOptions.MaxClonePacks"/>, its packs except the largest (normally the one of the
/// first clone) are merged into one (<see cref="Merge"/>).
/// </summary>
internal static class ClonePacks
{
    /// <summary>
    /// Writes the objects as one pack into the repository's <c>objects/pack</c> (<see cref="PackWriter"/>)
    /// and returns the path of the <c>.pack</c> file. The pack is written in a folder of its own,
    /// then moved in, its index last: git and libgit2 see a pack by its index.
    /// </summary>
    public static string Add(Repository repository, IReadOnlyCollection<ObjectId> ids)
    {
        var building = Directory.CreateDirectory(Path.Combine(repository.Info.Path, "kbsync-new-pack"));
        foreach (var leftover in building.EnumerateFiles())
        {
            leftover.Delete();
        }

        var built = PackWriter.Write(building.FullName, RawObjects.Read(repository, ids).ToList());
        var pack = Path.Combine(Folder(repository.Info.Path), Path.GetFileName(built));
        File.Move(built, pack, overwrite: true);
        File.Move(Path.ChangeExtension(built, ".idx"), Path.ChangeExtension(pack, ".idx"), overwrite: true);
        return pack;
    }

    /// <summary>
    /// Merges every pack but the largest into one, when there are more than <paramref name="maxPacks"/>.
    /// Call with no <see cref="Repository"/> open on the clone. The merged pack is complete on disk
    /// before the old ones are deleted (each index before its pack), so a process killed in between
    /// leaves duplicates, never a missing object. Returns how many packs were merged (0: none).
    /// </summary>
    public static int Merge(string clonePath, int maxPacks)
    {
        var folder = Folder(clonePath);
        var packs = Indexes(folder);
        if (packs.Count <= maxPacks)
        {
            return 0;
        }

        var merged = packs.OrderByDescending(idx => new FileInfo(Path.ChangeExtension(idx, ".pack")).Length).Skip(1).ToList();
        var ids = merged.SelectMany(ObjectIds).ToHashSet();
        using (var repository = new Repository(clonePath))
        {
            // libgit2's pack builder here, not PackWriter: a merge is rare, and worth its delta compression.
            repository.ObjectDatabase.Pack(new PackBuilderOptions(folder) { MaximumNumberOfThreads = 1 }, pack =>
            {
                foreach (var id in ids)
                {
                    pack.Add(id);
                }
            });
        }

        var written = Indexes(folder).Except(packs).ToList();
        if (written.Count != 1)
        {
            return 0; // the merged pack has the name of an old one (same content): nothing to delete
        }

        foreach (var idx in merged)
        {
            File.Delete(idx);
            File.Delete(Path.ChangeExtension(idx, ".pack"));
        }

        return merged.Count;
    }

    public static string Folder(string gitDirectory) => Path.Combine(gitDirectory, "objects", "pack");

    private static List<string> Indexes(string folder) =>
        Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "pack-*.idx").ToList() : [];

    /// <summary>The object ids listed in a version 2 pack index: magic, version, a 256-entry fan-out whose last entry is the count, then the sorted ids.</summary>
    internal static IEnumerable<ObjectId> ObjectIds(string idxPath)
    {
        var bytes = File.ReadAllBytes(idxPath);
        if (bytes.Length < 8 + 256 * 4 || BinaryPrimitives.ReadUInt32BigEndian(bytes) != 0xff744f63 || BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4)) != 2)
        {
            throw new InvalidDataException($"{idxPath} is not a version 2 pack index.");
        }

        var count = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(8 + 255 * 4));
        var ids = new ObjectId[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = new ObjectId(bytes.AsSpan(8 + 256 * 4 + i * 20, 20).ToArray());
        }

        return ids;
    }
}

using KbSync.IntegrationTests.Fixtures;
using KbSync.KbWorker.Git;
using LibGit2Sharp;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// The packs the worker writes itself (<see cref="PackWriter"/>) are read by git: objects of every
/// type, sizes on each side of the header's 4- and 7-bit boundaries, an empty blob and an
/// incompressible one, checked by <c>git verify-pack</c>, <c>git fsck</c> and <c>git cat-file</c>.
/// </summary>
public sealed class PackWriterTests : IDisposable
{
    private readonly TempFolder _folder = new("kbsync-pack");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_pack_of_every_object_type_and_size_is_read_back_by_git_byte_for_byte()
    {
        var source = Repository.Init(_folder.Combine("source"), isBare: true);
        var target = _folder.Combine("target.git");
        await GitCli.OutputAsync(null, "init", "--bare", "--quiet", target);

        var random = new Random(7);
        var contents = new[] { 0, 1, 15, 16, 2047, 2048, 262_143, 262_144, 300_000 }
            .Select(size => size == 300_000 ? RandomBytes(random, size) : Enumerable.Range(0, size).Select(i => (byte)('a' + i % 26)).ToArray())
            .ToList();
        ObjectId commit;
        List<ObjectId> ids;
        using (var repository = new Repository(source))
        {
            var blobs = contents.Select(bytes => repository.ObjectDatabase.Write<Blob>(bytes)).ToList();
            var tree = new TreeDefinition();
            for (var i = 0; i < blobs.Count; i++)
            {
                tree.Add($"folder/file-{i}.md", blobs[i], Mode.NonExecutableFile);
            }

            var root = repository.ObjectDatabase.CreateTree(tree);
            var signature = new Signature("KbSync test", "test@kbsync.invalid", DateTimeOffset.UnixEpoch);
            commit = repository.ObjectDatabase.CreateCommit(signature, signature, "Every size\n\nKbSync-Operation: test\n", root, [], prettifyMessage: false).Id;
            ids = [commit, root.Id, ((Tree)root["folder"].Target).Id, .. blobs.Distinct()];

            var pack = PackWriter.Write(Path.Combine(target, "objects", "pack"), RawObjects.Read(repository, ids).ToList());
            Assert.True(File.Exists(Path.ChangeExtension(pack, ".idx")));
        }

        var git = new[] { "--git-dir=" + target };
        var index = Directory.EnumerateFiles(Path.Combine(target, "objects", "pack"), "*.idx").Single();
        var verified = await GitCli.OutputAsync(null, "verify-pack", "-v", index);
        Assert.Contains($"non delta: {ids.Count} objects", verified);

        await GitCli.OutputAsync(null, [.. git, "update-ref", "refs/heads/main", commit.Sha]);
        await GitCli.AssertCompleteAsync(target);
        for (var i = 0; i < contents.Count; i++)
        {
            var size = await GitCli.OutputAsync(null, [.. git, "cat-file", "-s", $"main:folder/file-{i}.md"]);
            Assert.Equal(contents[i].Length.ToString(System.Globalization.CultureInfo.InvariantCulture), size);
        }

        Assert.Equal("Every size\n\nKbSync-Operation: test", await GitCli.OutputAsync(null, [.. git, "log", "-1", "--format=%B", "main"]));
    }

    private static byte[] RandomBytes(Random random, int size)
    {
        var bytes = new byte[size];
        random.NextBytes(bytes);
        return bytes;
    }
}

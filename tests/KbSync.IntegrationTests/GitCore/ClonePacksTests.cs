using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// What a worker leaves in its clone: each group of commits saved as one pack (no loose object per
/// blob, tree and commit), and the number of packs kept bounded by merging, with every object still
/// there (checked by <c>git fsck</c>).
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class ClonePacksTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;
    private string _clone = null!;
    private string _dataPath = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("packs-kb");
        await _sandbox.RegisterKbAsync("packs-kb", _remote.Path);
        _dataPath = _sandbox.Folder.Combine("data");
        _clone = Path.Combine(_dataPath, "kbs", "packs-kb.git");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task Notes_are_saved_in_the_clone_as_packs_without_loose_objects()
    {
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__DataPath"] = _dataPath });
        await using var producer = await _sandbox.StartProducerAsync();

        await WriteNotesAsync(producer, 3);

        Assert.Empty(LooseObjects());
        Assert.Equal(3, Packs().Count);
        foreach (var pack in Packs())
        {
            await GitCli.OutputAsync(null, "verify-pack", Path.ChangeExtension(pack, ".idx")); // checksums, CRCs and every object's id, by git itself
        }

        Assert.Equal(_remote.Commits()[^1].Sha, await Git("rev-parse", "refs/heads/main"));
        await GitCli.AssertCompleteAsync(_clone);
        await GitCli.AssertCompleteAsync(_remote.Path);
    }

    [Fact]
    public async Task Packs_beyond_the_limit_are_merged_into_one_and_no_object_is_lost()
    {
        var worker = await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__DataPath"] = _dataPath, ["KbWorker__MaxClonePacks"] = "2" });
        await using var producer = await _sandbox.StartProducerAsync();

        await WriteNotesAsync(producer, 6, afterEach: i => Assert.True(Packs().Count <= 3, $"{Packs().Count} packs after note {i}"));

        Assert.Contains("packs of the worker's clone into one", worker.Output);
        Assert.Equal(6, _remote.Commits().Count);
        Assert.Equal(_remote.Commits()[^1].Sha, await Git("rev-parse", "refs/heads/main"));
        Assert.Equal("6", await Git("rev-list", "--count", "refs/heads/main"));
        await GitCli.AssertCompleteAsync(_clone);
        await GitCli.AssertCompleteAsync(_remote.Path);
    }

    [Fact]
    public async Task Packs_pushed_to_a_local_remote_beyond_the_limit_are_merged_and_the_remote_stays_complete()
    {
        var worker = await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KbWorker__DataPath"] = _dataPath, ["KbWorker__MaxRemotePacks"] = "2" });
        await using var producer = await _sandbox.StartProducerAsync();

        await WriteNotesAsync(producer, 6, afterEach: i => Assert.True(RemotePacks().Count <= 3, $"{RemotePacks().Count} packs in the remote after note {i}"));

        Assert.Contains("packs of the remote", worker.Output);
        Assert.Equal(6, _remote.Commits().Count);
        await GitCli.AssertCompleteAsync(_remote.Path);
        Assert.Equal(_remote.Commits()[^1].Sha, await GitCli.OutputAsync(null, "--git-dir=" + _remote.Path, "rev-parse", "refs/heads/main"));
    }

    /// <summary>Notes one at a time, each waited for until it succeeded; <paramref name="afterEach"/> then checks the repositories.</summary>
    private async Task WriteNotesAsync(ProducerHost producer, int count, Action<int>? afterEach = null)
    {
        for (var i = 0; i < count; i++)
        {
            var row = await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("packs-kb", "alice", new NoteContent($"Note {i}.")));
            Assert.Equal(OperationStatus.Succeeded, row.Status);
            afterEach?.Invoke(i);
        }
    }

    private List<string> RemotePacks() => Directory.EnumerateFiles(Path.Combine(_remote.Path, "objects", "pack"), "*.pack").ToList();

    private List<string> Packs() => Directory.EnumerateFiles(Path.Combine(_clone, "objects", "pack"), "*.pack").ToList();

    private List<string> LooseObjects() =>
        Directory.EnumerateDirectories(Path.Combine(_clone, "objects"))
            .Where(dir => Path.GetFileName(dir).Length == 2)
            .SelectMany(Directory.EnumerateFiles)
            .ToList();

    private Task<string> Git(params string[] args) => GitCli.OutputAsync(null, ["--git-dir=" + _clone, .. args]);
}

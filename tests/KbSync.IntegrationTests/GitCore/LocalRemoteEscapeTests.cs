using System.Security.Cryptography;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// Local remotes that would make the worker write into a repository it should not touch: outside
/// <c>Remotes__LocalRoot</c> (the sandbox's folder here), inside a worker's data folder (another KB's
/// clone), behind a symlink, or KbSync's own checkout. <c>kbsync kb add</c> refuses them; a row that
/// names one anyway fails in the worker, and the target repository keeps every ref and object it had.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class LocalRemoteEscapeTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private readonly TempFolder _outside = new("kbsync-outside");
    private KbSyncSandbox _sandbox = null!;
    private ProducerHost _producer = null!;
    private GitRemote _target = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _target = new GitRemote(_outside.Combine("victim.git"));
        await new ForeignWriter(_target.Path, _outside.Combine("person")).WriteAsync(2, TimeSpan.Zero);
        await _sandbox.StartWorkerAsync("w1");
        _producer = await _sandbox.StartProducerAsync();
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        _outside.Dispose();
    }

    private async Task<OperationRecord> NoteAsync(string kb) =>
        await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync(kb, "mallory", new NoteContent("Written where it should not be.")));

    [Fact]
    public async Task Kbsync_kb_add_refuses_a_remote_outside_the_root_in_a_worker_data_folder_behind_a_symlink_or_with_dot_dot()
    {
        var link = _sandbox.Folder.Combine("innocent.git");
        Directory.CreateSymbolicLink(link, _target.Path);
        var clone = _sandbox.Folder.Combine("workers", "w1", "kbs", "other-kb.git");
        var cases = new (string Kb, string Remote, string Refusal)[]
        {
            ("outside-kb", _target.Path, "is outside Remotes__LocalRoot"),
            ("file-kb", new Uri(_target.Path).AbsoluteUri, "is outside Remotes__LocalRoot"),
            ("link-kb", link, $"(really {_target.Path}) is outside Remotes__LocalRoot"),
            ("clone-kb", clone, $"is inside the worker data folder {_sandbox.Folder.Combine("workers", "w1")}"),
            ("dots-kb", _sandbox.Folder.Combine("remotes", "..", "..", Path.GetFileName(_outside.Path), "victim.git"), "must not contain '..'"),
        };

        foreach (var (kb, remote, refusal) in cases)
        {
            var added = await CliRunner.RunAsync(_sandbox.Environment(), "kb", "add", kb, "--remote", remote);

            Assert.True(added.ExitCode == 2, $"{kb}: {added}");
            Assert.Contains(refusal, added.Error);
        }

        var list = await CliRunner.RunAsync(_sandbox.Environment(), "kb", "list");
        Assert.DoesNotContain(cases, c => list.Output.Contains(c.Kb, StringComparison.Ordinal));
        var allowed = await CliRunner.RunAsync(_sandbox.Environment(), "kb", "add", "fine-kb", "--remote", _sandbox.CreateRemote("fine-kb").Path);
        Assert.True(allowed.ExitCode == 0, allowed.ToString());
    }

    [Fact]
    public async Task Kbsync_kb_add_refuses_KbSync_own_checkout_even_when_the_root_holds_it()
    {
        var checkout = FindCheckout();
        var environment = _sandbox.Environment();
        environment["Remotes__LocalRoot"] = Path.GetDirectoryName(checkout)!;

        foreach (var remote in new[] { checkout, Path.Combine(checkout, ".git") })
        {
            var added = await CliRunner.RunAsync(environment, "kb", "add", "own-kb", "--remote", remote);

            Assert.True(added.ExitCode == 2, added.ToString());
            Assert.Contains("is KbSync's own repository", added.Error);
        }
    }

    [Fact]
    public async Task A_row_naming_a_repository_outside_the_root_fails_in_the_worker_and_leaves_that_repository_as_it_was()
    {
        var link = _sandbox.Folder.Combine("innocent.git");
        Directory.CreateSymbolicLink(link, _target.Path);
        await _sandbox.RegisterKbAsync("outside-kb", _target.Path);
        await _sandbox.RegisterKbAsync("file-kb", new Uri(_target.Path).AbsoluteUri);
        await _sandbox.RegisterKbAsync("link-kb", link);
        var before = Snapshot(_target.Path);

        foreach (var kb in new[] { "outside-kb", "file-kb", "link-kb" })
        {
            var row = await NoteAsync(kb);

            Assert.Equal(OperationStatus.Failed, row.Status);
            Assert.Equal(ReasonCodes.RemoteNotAllowed, row.ErrorCode);
            Assert.Contains("is outside Remotes__LocalRoot", row.ErrorMessage);
            Assert.Contains("Nothing was fetched or pushed", row.ErrorMessage);
        }

        Assert.Equal(before, Snapshot(_target.Path));
        Assert.Equal(2, _target.Commits().Count);
    }

    [Fact]
    public async Task A_row_naming_another_kbs_clone_in_the_workers_data_folder_fails_and_the_clone_is_untouched()
    {
        var victimRemote = _sandbox.CreateRemote("victim-kb");
        await _sandbox.RegisterKbAsync("victim-kb", victimRemote.Path);
        Assert.Equal(OperationStatus.Succeeded, (await NoteAsync("victim-kb")).Status);
        var clone = _sandbox.Folder.Combine("workers", "w1", "kbs", "victim-kb.git");
        await _sandbox.RegisterKbAsync("squatter-kb", clone);
        var before = Snapshot(clone);

        var row = await NoteAsync("squatter-kb");

        Assert.Equal(ReasonCodes.RemoteNotAllowed, row.ErrorCode);
        Assert.Contains("is inside the worker data folder", row.ErrorMessage);
        Assert.Equal(before, Snapshot(clone));
        Assert.Single(victimRemote.Commits());
    }

    /// <summary>Every file of a repository (refs, packed refs, objects, config) with a hash of its content.</summary>
    private static string Snapshot(string gitDir) => string.Join("\n", Directory
        .EnumerateFiles(gitDir, "*", SearchOption.AllDirectories)
        .Order(StringComparer.Ordinal)
        .Select(file => $"{Path.GetRelativePath(gitDir, file)} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)))}"));

    private static string FindCheckout()
    {
        for (var folder = AppContext.BaseDirectory; folder is not null; folder = Path.GetDirectoryName(folder))
        {
            if (Path.Exists(Path.Combine(folder, ".git")))
            {
                return folder.TrimEnd(Path.DirectorySeparatorChar);
            }
        }

        throw new InvalidOperationException("The tests do not run from a KbSync checkout.");
    }
}

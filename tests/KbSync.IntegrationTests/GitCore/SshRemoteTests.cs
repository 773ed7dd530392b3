using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// SSH remotes against a real sshd (<see cref="SshServer"/>): the KB's deploy key comes from its token
/// variable on the worker, the server's host key must be in <c>Remotes__KnownHostsFile</c>, and an
/// unknown or changed host key, or a key the server does not know, fails with a clear reason and leaves
/// the repository as it was.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class SshRemoteTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string KeyEnv = "KBSYNC_TOKEN_SSH_KB";
    private const string StrangerEnv = "KBSYNC_TOKEN_STRANGER";
    private KbSyncSandbox _sandbox = null!;
    private SshServer _server = null!;
    private GitRemote _remote = null!;
    private ProducerHost _producer = null!;
    private string _knownHosts = null!;
    private string _impostorLine = null!;
    private Dictionary<string, string> _environment = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("ssh-kb");
        _server = await SshServer.StartAsync(_sandbox.Folder.Combine("sshd"), _remote.Path);
        var (strangerKey, impostorLine) = await _server.StrangerKeyAsync();
        _impostorLine = impostorLine;
        _knownHosts = _sandbox.Folder.Combine("known_hosts");
        File.WriteAllText(_knownHosts, _server.KnownHostsLine + "\n");
        _environment = new Dictionary<string, string> { ["Remotes__KnownHostsFile"] = _knownHosts };
        var worker = new Dictionary<string, string>(_environment) { [KeyEnv] = _server.DeployKey, [StrangerEnv] = strangerKey };
        await _sandbox.StartWorkerAsync("w1", worker);
        _producer = await _sandbox.StartProducerAsync();
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        await _server.DisposeAsync();
    }

    private async Task<OperationRecord> NoteAsync(string kb, string text) =>
        await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync(kb, "alice", new NoteContent(text)));

    private Dictionary<string, string> CliEnvironment()
    {
        var environment = _sandbox.Environment();
        foreach (var (name, value) in _environment)
        {
            environment[name] = value;
        }

        return environment;
    }

    [Fact]
    public async Task A_note_lands_over_ssh_with_the_kbs_deploy_key_and_the_key_is_kept_nowhere()
    {
        var added = await CliRunner.RunAsync(CliEnvironment(), "kb", "add", "ssh-kb", "--remote", _server.Url, "--token-env", KeyEnv);
        Assert.True(added.ExitCode == 0, added.ToString());

        var first = await NoteAsync("ssh-kb", "Over SSH.");
        var second = await NoteAsync("ssh-kb", "Over SSH again.");

        Assert.True(first.Status == OperationStatus.Succeeded, $"{first.ErrorCode}: {first.ErrorMessage}\n{_sandbox.WorkerOutput()}\n{_server.Log}");
        Assert.Equal(OperationStatus.Succeeded, second.Status);
        Assert.Equal([first.CommitSha, second.CommitSha], _remote.Commits().Select(c => c.Sha));
        Assert.Contains("Accepted publickey", _server.Log);

        var keyLine = _server.DeployKey.Split('\n')[1]; // a line of the key's body
        await using var db = _sandbox.Database.CreateContext();
        var stored = System.Text.Json.JsonSerializer.Serialize(db.Operations.ToList()) + System.Text.Json.JsonSerializer.Serialize(db.KnowledgeBases.ToList());
        var workerFiles = Directory.EnumerateFiles(_sandbox.Folder.Combine("workers", "w1"), "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}objects{Path.DirectorySeparatorChar}"));
        Assert.DoesNotContain(keyLine, stored);
        Assert.DoesNotContain(keyLine, _sandbox.WorkerOutput());
        Assert.All(workerFiles, file => Assert.DoesNotContain(keyLine, File.ReadAllText(file)));
        // the key file lives only while a fetch or push runs
        var keyFolders = Directory.EnumerateDirectories("/dev/shm", "kbsync-ssh-*").Concat(Directory.EnumerateDirectories(Path.GetTempPath(), "kbsync-ssh-*"));
        Assert.DoesNotContain(keyFolders, folder => File.Exists(Path.Combine(folder, "key")) && File.ReadAllText(Path.Combine(folder, "key")).Contains(keyLine, StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unknown_or_changed_host_key_fails_as_remote_not_allowed_and_nothing_is_pushed()
    {
        await _sandbox.RegisterKbAsync("ssh-kb", _server.Url, tokenEnv: KeyEnv);

        File.WriteAllText(_knownHosts, "");
        var unknown = await NoteAsync("ssh-kb", "To a server nobody vouched for.");
        File.WriteAllText(_knownHosts, _impostorLine + "\n");
        var changed = await NoteAsync("ssh-kb", "To a server whose key is not the one listed.");

        foreach (var row in new[] { unknown, changed })
        {
            Assert.Equal(OperationStatus.Failed, row.Status);
            Assert.Equal(ReasonCodes.RemoteNotAllowed, row.ErrorCode);
            Assert.Contains($"did not show a host key listed for it in {_knownHosts}", row.ErrorMessage);
            Assert.Contains("Host key verification failed", row.ErrorMessage);
        }

        Assert.Empty(_remote.Commits());
        Assert.DoesNotContain("Accepted publickey", _server.Log);

        File.WriteAllText(_knownHosts, _server.KnownHostsLine + "\n");
        Assert.Equal(OperationStatus.Succeeded, (await NoteAsync("ssh-kb", "Now the key is known.")).Status);
    }

    [Fact]
    public async Task A_deploy_key_the_server_does_not_know_or_a_missing_one_fails_as_auth_failed()
    {
        await _sandbox.RegisterKbAsync("stranger-kb", _server.Url, tokenEnv: StrangerEnv);
        await _sandbox.RegisterKbAsync("keyless-kb", _server.Url, tokenEnv: "KBSYNC_TOKEN_NOT_SET");

        var stranger = await NoteAsync("stranger-kb", "With a key the server has never seen.");
        var keyless = await NoteAsync("keyless-kb", "With no key at all.");

        Assert.Equal(ReasonCodes.AuthFailed, stranger.ErrorCode);
        Assert.Contains($"refused the deploy key in {StrangerEnv}", stranger.ErrorMessage);
        Assert.Contains("Permission denied", stranger.ErrorMessage);
        Assert.Equal(ReasonCodes.AuthFailed, keyless.ErrorCode);
        Assert.Contains("the environment variable KBSYNC_TOKEN_NOT_SET is not set on this worker", keyless.ErrorMessage);
        Assert.Empty(_remote.Commits());
    }
}

using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Entities;

namespace KbSync.IntegrationTests.GitCore;

/// <summary>
/// A hostile registrant against the worker: KBs whose rows were written straight into the registry
/// (as by someone with the database, bypassing <c>kbsync kb add</c>) that try to make the worker hand a
/// token to a server of theirs. The worker has the victim's token variable; nothing of it may leave.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class TokenExfiltrationTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Secret = "kbsync-victim-token-51c2e9";
    private const string VictimTokenEnv = "KBSYNC_TOKEN_VICTIM";
    private KbSyncSandbox _sandbox = null!;
    private GitHttpServer _server = null!;
    private ProducerHost _producer = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _server = new GitHttpServer(_sandbox.Folder.Combine("http"));
        var environment = new Dictionary<string, string> { [VictimTokenEnv] = Secret };
        await _sandbox.StartWorkerAsync("w1", environment);
        _producer = await _sandbox.StartProducerAsync();
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        await _server.DisposeAsync();
    }

    private async Task<OperationRecord> NoteAsync(string kb) =>
        await _sandbox.WaitForOperationAsync(await _producer.Client.SubmitNoteAsync(kb, "mallory", new NoteContent("Send me your token.")));

    [Fact]
    public async Task A_kb_whose_remote_is_the_attackers_own_server_fails_and_the_server_receives_nothing()
    {
        await using var trap = new CredentialTrap("127.0.0.2");
        await _sandbox.RegisterKbAsync("stolen-kb", trap.BaseUrl + "/kb.git", tokenEnv: VictimTokenEnv);

        var row = await NoteAsync("stolen-kb");

        Assert.Empty(trap.Credentials);
        Assert.Equal(OperationStatus.Failed, row.Status);
        Assert.Equal(ReasonCodes.RemoteNotAllowed, row.ErrorCode);
        Assert.Contains("The host 127.0.0.2:", row.ErrorMessage);
        Assert.Contains("is not allowed", row.ErrorMessage);
        Assert.Empty(trap.Requests);
        AssertSecretNowhere(row);
    }

    [Fact]
    public async Task A_kb_naming_the_database_connection_string_as_its_token_fails_before_its_allowed_server_is_asked_anything()
    {
        _server.CreateRepository("greedy-kb");
        _server.RequireToken("x-access-token", "whatever");
        await _sandbox.RegisterKbAsync("greedy-kb", _server.Url("greedy-kb"), tokenEnv: "ConnectionStrings__KbSync");

        var row = await NoteAsync("greedy-kb");

        Assert.Equal(0, _server.AuthorizationHeaderCount);
        Assert.Equal(ReasonCodes.RemoteNotAllowed, row.ErrorCode);
        Assert.Contains("must start with 'KBSYNC_TOKEN_'", row.ErrorMessage);
        Assert.Empty(_server.Requests);
        Assert.DoesNotContain(_sandbox.Database.ConnectionString, row.ErrorMessage + _sandbox.WorkerOutput());
    }

    /// <summary>
    /// The KB's remote is an allowed host; it redirects the worker to a server that asks for Basic
    /// credentials. libgit2 follows the redirect and asks the credentials callback with the new URL: on
    /// another host, and on the same host at another port, the callback gives nothing.
    /// </summary>
    [Theory]
    [InlineData("127.0.0.2")]
    [InlineData("127.0.0.1")]
    public async Task After_a_redirect_from_the_registered_host_to_another_server_no_credentials_are_given(string trapAddress)
    {
        await using var trap = new CredentialTrap(trapAddress);
        _server.CreateRepository("redirected-kb");
        await _sandbox.RegisterKbAsync("redirected-kb", _server.Url("redirected-kb"), tokenEnv: VictimTokenEnv);
        _server.RedirectTo = trap.BaseUrl;

        var row = await NoteAsync("redirected-kb");

        Assert.Empty(trap.Credentials);
        Assert.Equal(OperationStatus.Failed, row.Status);
        Assert.Equal(ReasonCodes.AuthFailed, row.ErrorCode);
        Assert.Contains("gave no credentials", row.ErrorMessage);
        Assert.Contains($"asked for by http://{trapAddress}:", row.ErrorMessage);
        Assert.NotEmpty(trap.Requests); // the redirect was followed: the trap did ask
        Assert.Equal(0, _server.AuthorizationHeaderCount);
        AssertSecretNowhere(row);
    }

    [Fact]
    public async Task The_registered_server_itself_is_given_the_token()
    {
        var remote = _server.CreateRepository("honest-kb");
        _server.RequireToken("x-access-token", Secret);
        await _sandbox.RegisterKbAsync("honest-kb", _server.Url("honest-kb"), tokenEnv: VictimTokenEnv);

        var row = await NoteAsync("honest-kb");

        Assert.True(row.Status == OperationStatus.Succeeded, $"{row.ErrorCode}: {row.ErrorMessage}\n{_sandbox.WorkerOutput()}");
        Assert.Single(remote.Open().Commits());
        Assert.True(_server.AuthorizationHeaderCount > 0);
    }

    private void AssertSecretNowhere(OperationRecord row)
    {
        Assert.DoesNotContain(Secret, row.ErrorMessage ?? "");
        Assert.DoesNotContain(Secret, _sandbox.WorkerOutput());
    }
}

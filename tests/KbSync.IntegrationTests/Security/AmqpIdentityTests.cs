using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Identity;
using RabbitMQ.Client.Exceptions;

namespace KbSync.IntegrationTests.Security;

/// <summary>
/// AMQP producers are identified by the broker, never by the message: the workers trust only the
/// <c>user_id</c> RabbitMQ validated, map it to a principal, and check that principal's grant on the
/// KB. What is refused fails with <c>unauthorized</c>, is recorded and answered, and touches no git.
/// One partition, so every KB here shares it and "the partition goes on" is really tested.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class AmqpIdentityTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);
    private KbSyncSandbox _sandbox = null!;
    private IdentityStore _identities = null!;
    private Dictionary<string, GitRemote> _remotes = null!;
    private string _aliceUser = null!;
    private string _malloryUser = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 1);
        _remotes = await _sandbox.RegisterKbsWithRemotesAsync(["kb-a", "kb-b"]);
        _identities = new IdentityStore(_sandbox.Database.Factory());
        _aliceUser = await _sandbox.VirtualHost.CreateUserAsync("alice");
        _malloryUser = await _sandbox.VirtualHost.CreateUserAsync("mallory");
        await _identities.AddPrincipalAsync("alice", "alice@example.com", Roles.Member, brokerUser: _aliceUser);
        await _identities.AddPrincipalAsync("mallory", "mallory@example.com", Roles.Member, brokerUser: _malloryUser);
        await _identities.GrantAsync("kb-a", "alice", KbRights.Write);
        await _identities.GrantAsync("kb-b", "mallory", KbRights.Write);
        await _sandbox.StartWorkerAsync("w1");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_request_without_a_user_id_fails_unauthorized_and_touches_no_git()
    {
        await using var anonymous = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost, _aliceUser);
        var id = Guid.NewGuid();

        await anonymous.PublishAsync("kb-a", Note(id, "kb-a", "alice", "no user id"), partitions: 1, userId: null);

        var failed = await anonymous.WaitForResultAsync(id, Prompt);
        Assert.Equal(ReasonCodes.Unauthorized, failed.GetProperty("reasonCode").GetString());
        Assert.Contains("user_id", failed.GetProperty("message").GetString());
        Assert.Equal(ReasonCodes.Unauthorized, (await _sandbox.WaitForOperationAsync(id)).ErrorCode);
        Assert.Empty(_remotes["kb-a"].Commits());
        await AliceWritesToKbAAsync();
    }

    [Fact]
    public async Task A_user_id_that_is_not_the_connections_own_is_refused_by_the_broker()
    {
        await using var mallory = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost, _malloryUser);

        var refused = await Assert.ThrowsAnyAsync<Exception>(() => mallory.PublishAsync("kb-a", Note(Guid.NewGuid(), "kb-a", "alice", "I am alice"), partitions: 1, userId: _aliceUser));

        Assert.True(refused is AlreadyClosedException or OperationInterruptedException or PublishException, refused.ToString());
        Assert.Contains("PRECONDITION_FAILED", refused.ToString());
        await AliceWritesToKbAAsync();
        Assert.Single(_remotes["kb-a"].Commits());
    }

    [Fact]
    public async Task A_principal_without_a_write_grant_on_the_kb_fails_unauthorized()
    {
        await using var mallory = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost, _malloryUser);
        var id = Guid.NewGuid();

        await mallory.PublishAsync("kb-a", Note(id, "kb-a", "mallory", "not my KB"), partitions: 1);

        var failed = await mallory.WaitForResultAsync(id, Prompt);
        Assert.Equal(ReasonCodes.Unauthorized, failed.GetProperty("reasonCode").GetString());
        Assert.Contains("mallory has no 'write' right on KB 'kb-a'", failed.GetProperty("message").GetString());
        Assert.Empty(_remotes["kb-a"].Commits());
        await AliceWritesToKbAAsync();
    }

    [Fact]
    public async Task Only_a_relay_may_act_for_another_principal()
    {
        await using var mallory = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost, _malloryUser);
        var id = Guid.NewGuid();

        await mallory.PublishAsync("kb-a", Note(id, "kb-a", "alice", "as if I were alice", onBehalfOf: "alice"), partitions: 1);

        var failed = await mallory.WaitForResultAsync(id, Prompt);
        Assert.Equal(ReasonCodes.Unauthorized, failed.GetProperty("reasonCode").GetString());
        Assert.Contains("only a trusted relay", failed.GetProperty("message").GetString());
        Assert.Empty(_remotes["kb-a"].Commits());

        await using var relay = await _sandbox.StartProducerAsync(); // the tests' producer is a relay
        var relayed = await _sandbox.WaitForOperationAsync(await relay.Client.SubmitNoteAsync("kb-a", "Alice from the web", new NoteContent("relayed for alice"), onBehalfOf: "alice"));
        Assert.Equal(OperationStatus.Succeeded, relayed.Status);
        Assert.Equal("alice", relayed.Principal);
        var commit = Assert.Single(_remotes["kb-a"].Commits());
        Assert.Equal(("alice", "alice@example.com"), (commit.CommitterName, commit.CommitterEmail));
        Assert.Equal("Alice from the web", commit.AuthorName);
        Assert.Equal("alice", commit.Trailers!.Principal);
    }

    [Theory]
    [InlineData("ali\0ce")]
    [InlineData("nobody-of-that-name")]
    [InlineData("../../admin")]
    public async Task A_relay_acting_for_someone_who_is_no_principal_fails_unauthorized_and_the_partition_goes_on(string onBehalfOf)
    {
        await using var relay = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost); // the tests' own user: a relay
        var id = Guid.NewGuid();

        await relay.PublishAsync("kb-a", Note(id, "kb-a", "web user", "for whom?", onBehalfOf), partitions: 1);

        var failed = await relay.WaitForResultAsync(id, Prompt);
        Assert.Equal(ReasonCodes.Unauthorized, failed.GetProperty("reasonCode").GetString());
        Assert.Empty(_remotes["kb-a"].Commits());
        await AliceWritesToKbAAsync();
    }

    [Fact]
    public async Task A_commit_names_its_principal_as_committer_and_in_a_trailer_whatever_requestedBy_says()
    {
        await using var alice = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost, _aliceUser);
        var id = Guid.NewGuid();

        await alice.PublishAsync("kb-a", Note(id, "kb-a", "Someone Else <ceo@example.com>", "who wrote this?"), partitions: 1);

        Assert.Equal("succeeded", (await alice.WaitForResultAsync(id, Prompt)).GetProperty("status").GetString());
        var commit = Assert.Single(_remotes["kb-a"].Commits());
        Assert.Equal(("alice", "alice@example.com"), (commit.CommitterName, commit.CommitterEmail));
        Assert.Equal("alice", commit.Trailers!.Principal);
        Assert.Equal("Someone Else", commit.AuthorName); // the author is what the request says; the committer and trailer are who asked
        Assert.Equal("alice", (await _sandbox.FindOperationAsync(id))!.Principal);
    }

    [Theory]
    [InlineData("kb-b")] // the same id on another KB
    [InlineData("kb-a")] // the same id and KB, by another principal (mallory may write to kb-a here)
    public async Task An_operation_id_of_another_kb_or_principal_is_refused_and_never_answered_with_its_result(string squatterKb)
    {
        await using var alice = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost, _aliceUser);
        await using var mallory = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost, _malloryUser);
        await _identities.GrantAsync("kb-a", "mallory", KbRights.Write);
        var victim = Guid.NewGuid();
        await alice.PublishAsync("kb-a", Note(victim, "kb-a", "alice", "alice's note"), partitions: 1);
        var victimResult = await alice.WaitForResultAsync(victim, Prompt);
        var victimRow = await _sandbox.WaitForOperationAsync(victim);
        var kbBefore = _remotes[squatterKb].Commits().Count;

        await mallory.PublishAsync(squatterKb, Note(victim, squatterKb, "mallory", "mallory reuses alice's id"), partitions: 1);

        var refused = await mallory.WaitForResultAsync(r => r.TryGetProperty("sentOperationId", out var sent) && sent.GetString() == victim.ToString(), Prompt);
        Assert.Equal(ReasonCodes.InvalidRequest, refused.GetProperty("reasonCode").GetString());
        Assert.Contains("already used by another request", refused.GetProperty("message").GetString());
        Assert.NotEqual(victim, refused.GetProperty("operationId").GetGuid());
        Assert.Equal(kbBefore, _remotes[squatterKb].Commits().Count);
        var after = await _sandbox.FindOperationAsync(victim);
        Assert.Equal((victimRow.KbId, victimRow.Principal, victimRow.CommitSha, victimRow.Attempts), (after!.KbId, after.Principal, after.CommitSha, after.Attempts));
        Assert.Equal(victimResult.GetProperty("commitSha").GetString(), after.CommitSha);
    }

    private async Task AliceWritesToKbAAsync()
    {
        await using var alice = await RawAmqpClient.ConnectAsync(_sandbox.VirtualHost, _aliceUser);
        var id = Guid.NewGuid();
        await alice.PublishAsync("kb-a", Note(id, "kb-a", "alice", $"alice's own note {id}"), partitions: 1);
        Assert.Equal("succeeded", (await alice.WaitForResultAsync(id, Prompt)).GetProperty("status").GetString());
    }

    private static string Note(Guid id, string kb, string requestedBy, string text, string? onBehalfOf = null) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["operationId"] = id, ["kbId"] = kb, ["requestedBy"] = requestedBy, ["requestedAt"] = DateTimeOffset.UtcNow,
        ["note"] = new Dictionary<string, object?> { ["text"] = text }, ["onBehalfOf"] = onBehalfOf,
    });
}

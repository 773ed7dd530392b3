using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>
/// Requests that cannot succeed are recorded as failed with a reason, the requester gets an
/// <see cref="OperationFailed"/>, and the partition goes on. One partition here, so every KB shares
/// the queue and "goes on" is really tested.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class FailureTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres, partitions: 1);
        _remote = _sandbox.CreateRemote("good");
        await _sandbox.RegisterKbAsync("good", _remote.Path);
        await _sandbox.StartWorkerAsync("w1");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task An_unknown_kb_fails_with_unknown_kb_and_the_partition_goes_on()
    {
        var (failed, next) = await FailThenSucceedAsync("nobody-registered-me");

        Assert.Equal(ReasonCodes.UnknownKb, failed.ReasonCode);
        Assert.Contains("kbsync kb add nobody-registered-me", failed.Message);
        Assert.True(next.Succeeded);
    }

    [Fact]
    public async Task A_remote_that_does_not_exist_fails_with_remote_not_found_and_the_partition_goes_on()
    {
        await _sandbox.RegisterKbAsync("gone", _sandbox.Folder.Combine("no-such-remote.git"));

        var (failed, next) = await FailThenSucceedAsync("gone");

        Assert.Equal(ReasonCodes.RemoteNotFound, failed.ReasonCode);
        Assert.Contains("no-such-remote.git", failed.Message);
        Assert.True(next.Succeeded);
        var row = await _sandbox.FindOperationAsync(failed.OperationId);
        Assert.Equal(OperationStatus.Failed, row!.Status);
        Assert.Equal(ReasonCodes.RemoteNotFound, row.ErrorCode);
    }

    [Fact]
    public async Task A_category_that_is_not_a_folder_name_fails_as_invalid_request()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var operationId = Guid.NewGuid();
        await using var watch = await producer.Client.WatchAsync(operationId);
        await producer.Client.SubmitNoteAsync("good", "alice", new NoteContent("text", Category: "../../etc"), operationId);

        var result = await watch.ResultAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(OperationStatus.Failed, result.Status);
        Assert.Equal(ReasonCodes.InvalidRequest, result.ReasonCode);
        Assert.Contains("not a valid category", result.Message);
        Assert.Empty(_remote.Commits());
    }

    private async Task<(Producer.Client.OperationResult Failed, Producer.Client.OperationResult Next)> FailThenSucceedAsync(string badKb)
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var bad = Guid.NewGuid();
        var good = Guid.NewGuid();
        await using var badWatch = await producer.Client.WatchAsync(bad);
        await using var goodWatch = await producer.Client.WatchAsync(good);
        await producer.Client.SubmitNoteAsync(badKb, "alice", new NoteContent("This cannot land."), bad);
        await producer.Client.SubmitNoteAsync("good", "alice", new NoteContent($"This lands after {badKb}."), good);

        var failed = await badWatch.ResultAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(OperationStatus.Failed, failed.Status);
        return (failed, await goodWatch.ResultAsync(TimeSpan.FromSeconds(60)));
    }
}

/// <summary>HTTPS-style remotes behind a token (served over http by a real git http-backend).</summary>
[Collection(ServicesCollection.Name)]
public sealed class AuthenticationTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private const string Token = "kbsync-test-token-7f3a9c";
    private KbSyncSandbox _sandbox = null!;
    private GitHttpServer _server = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _server = new GitHttpServer(_sandbox.Folder.Combine("http"));
        _remote = _server.CreateRepository("private-kb").Open();
        _server.RequireToken("x-access-token", Token);
        await _sandbox.RegisterKbAsync("private-kb", _server.Url("private-kb"), tokenEnv: "KBSYNC_TOKEN_PRIVATE_KB");
        await _sandbox.RegisterKbAsync("no-token-kb", _server.Url("private-kb"));
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task The_token_from_the_named_variable_is_used_and_a_missing_or_wrong_one_fails_as_auth_failed()
    {
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KBSYNC_TOKEN_PRIVATE_KB"] = Token });
        await using var producer = await _sandbox.StartProducerAsync();

        var ok = await producer.Client.SubmitNoteAsync("private-kb", "alice", new NoteContent("Behind a token."));
        var missing = await producer.Client.SubmitNoteAsync("no-token-kb", "alice", new NoteContent("No token registered."));

        Assert.Equal(OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(ok)).Status);
        var refused = await _sandbox.WaitForOperationAsync(missing);
        Assert.Equal(ReasonCodes.AuthFailed, refused.ErrorCode);
        Assert.Contains("--token-env", refused.ErrorMessage);
        Assert.Single(_remote.Commits());
        Assert.DoesNotContain(_server.RequestLog, line => line.Contains(Token));
    }

    [Fact]
    public async Task The_token_appears_nowhere_but_the_authorization_header()
    {
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KBSYNC_TOKEN_PRIVATE_KB"] = Token, ["Logging__LogLevel__Default"] = "Debug" });
        await using var producer = await _sandbox.StartProducerAsync();
        var ok = await producer.Client.SubmitNoteAsync("private-kb", "alice", new NoteContent("Pushed with the token."));
        Assert.Equal(OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(ok)).Status);
        _server.RequireToken("x-access-token", "rotated-" + Token);
        var refused = await producer.Client.SubmitNoteAsync("private-kb", "alice", new NoteContent("The token was rotated on the server."));
        Assert.Equal(ReasonCodes.AuthFailed, (await _sandbox.WaitForOperationAsync(refused)).ErrorCode);

        await using var db = _sandbox.Database.CreateContext();
        var history = System.Text.Json.JsonSerializer.Serialize(db.Operations.ToList()) + System.Text.Json.JsonSerializer.Serialize(db.KnowledgeBases.ToList());
        var status = await CliRunner.RunAsync(_sandbox.Environment(), "status", refused.ToString(), "--json");
        var gitFiles = Directory.EnumerateFiles(_sandbox.Folder.Combine("workers", "w1"), "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}objects{Path.DirectorySeparatorChar}"))
            .Select(File.ReadAllText);
        foreach (var (place, text) in new[] { ("history", history), ("worker logs", _sandbox.WorkerOutput()), ("kbsync status", status.Output + status.Error) }
                     .Concat(gitFiles.Select(t => ("clone files", t))))
        {
            Assert.False(text.Contains(Token, StringComparison.Ordinal), $"the token leaked into {place}");
        }

        Assert.Contains("KBSYNC_TOKEN_PRIVATE_KB", history); // the variable's name is what is stored
        Assert.All(_server.Requests, r => Assert.DoesNotContain(Token, r.PathAndQuery));
        Assert.True(_server.AuthorizationHeaderCount > 0);
    }

    [Fact]
    public async Task A_wrong_token_fails_as_auth_failed_without_the_token_in_history_or_logs()
    {
        await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["KBSYNC_TOKEN_PRIVATE_KB"] = "wrong-" + Token });
        await using var producer = await _sandbox.StartProducerAsync();

        var id = await producer.Client.SubmitNoteAsync("private-kb", "alice", new NoteContent("Wrong token."));
        var row = await _sandbox.WaitForOperationAsync(id);

        Assert.Equal(OperationStatus.Failed, row.Status);
        Assert.Equal(ReasonCodes.AuthFailed, row.ErrorCode);
        Assert.DoesNotContain(Token, row.ErrorMessage);
        Assert.DoesNotContain(Token, _sandbox.WorkerOutput());
        Assert.DoesNotContain(Token, File.ReadAllText(_sandbox.Folder.Combine("workers", "w1", "kbs", "private-kb.git", "config")));
    }
}

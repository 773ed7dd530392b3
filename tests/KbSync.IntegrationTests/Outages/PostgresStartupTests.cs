using System.Text.RegularExpressions;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using Npgsql;

namespace KbSync.IntegrationTests.Outages;

/// <summary>
/// A worker started while PostgreSQL does not answer (here: behind a paused <see cref="TcpProxy"/>)
/// waits for it, saying so once per attempt, as it waits for RabbitMQ, instead of aborting; once the
/// database answers it starts serving. Its partition ownership connection waits out an outage too.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class PostgresStartupTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;

    public async Task InitializeAsync() => _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task A_worker_started_while_PostgreSQL_is_down_waits_without_exiting_and_serves_once_it_answers()
    {
        var direct = new NpgsqlConnectionStringBuilder(_sandbox.Database.ConnectionString);
        await using var proxy = TcpProxy.Start(direct.Host!, direct.Port);
        var throughProxy = new NpgsqlConnectionStringBuilder(direct.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString;
        proxy.Pause();
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => OpenAsync(throughProxy)); // what the worker meets: the database is gone

        var starting = _sandbox.StartWorkerAsync("w1", new Dictionary<string, string> { ["ConnectionStrings__KbSync"] = throughProxy });
        await Task.WhenAny(starting, Task.Delay(TimeSpan.FromSeconds(8)));
        Assert.False(starting.IsCompleted, starting.IsFaulted ? starting.Exception!.InnerException!.Message : "the worker started without its database");

        proxy.Resume();
        await OpenAsync(throughProxy);
        var worker = await starting;

        var waits = Regex.Matches(worker.Output, $@"PostgreSQL at 127\.0\.0\.1:{proxy.Port} is not answering \(.+\); waiting");
        Assert.True(waits.Count >= 3, $"expected a line per attempt while paused:\n{worker.Output}");
        Assert.True(worker.Output.IndexOf(waits[^1].Value, StringComparison.Ordinal) < worker.Output.IndexOf("Bus started", StringComparison.Ordinal));
        Assert.DoesNotContain("password", worker.Output, StringComparison.OrdinalIgnoreCase);

        proxy.Pause(); // and once more while it runs: the partition ownership connection waits too, and says why
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var ownershipWaits = $"Partition ownership could not be checked (PostgreSQL at 127.0.0.1:{proxy.Port} is not answering (";
        while (!worker.Output.Contains(ownershipWaits, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Contains(ownershipWaits, worker.Output);
        Assert.False(worker.HasExited);
        proxy.Resume();

        var remote = _sandbox.CreateRemote("patient-kb");
        await _sandbox.RegisterKbAsync("patient-kb", remote.Path);
        await using var producer = await _sandbox.StartProducerAsync();
        var row = await _sandbox.WaitForOperationAsync(await producer.Client.SubmitNoteAsync("patient-kb", "alice", new NoteContent("The database is back.")));

        Assert.True(row.Status == OperationStatus.Succeeded, $"{row.ErrorCode}: {row.ErrorMessage}");
        Assert.Equal("w1", row.WorkerId);
        Assert.Single(remote.Commits());
    }

    [Fact]
    public async Task Workers_started_together_on_an_empty_database_all_start()
    {
        await using var empty = await KbSyncSandbox.CreateAsync(rabbit, postgres, migrated: false);
        // pooled, as in production: a session lock must not outlive the migration in a pooled connection
        var pooled = new Dictionary<string, string> { ["ConnectionStrings__KbSync"] = new NpgsqlConnectionStringBuilder(empty.Database.ConnectionString) { Pooling = true }.ConnectionString };
        var workers = await Task.WhenAll(Enumerable.Range(1, 3).Select(i => empty.StartWorkerAsync($"w{i}", pooled)));

        Assert.All(workers, worker => Assert.False(worker.HasExited, worker.Output));
        await empty.WaitUntilPartitionsSharedAsync();
    }

    /// <summary>
    /// <c>kbsync db migrate</c> migrates twice in one process (on start, then the command): the lock of
    /// the first must not still be held by a pooled connection when the second asks for it.
    /// </summary>
    [Fact]
    public async Task Db_migrate_from_the_cli_on_a_pooled_connection_finishes()
    {
        var environment = _sandbox.Environment();
        environment["ConnectionStrings__KbSync"] = new NpgsqlConnectionStringBuilder(_sandbox.Database.ConnectionString) { Pooling = true }.ConnectionString;

        var migrate = CliRunner.RunAsync(environment, "db", "migrate");
        var finished = await Task.WhenAny(migrate, Task.Delay(TimeSpan.FromSeconds(20)));

        Assert.True(finished == migrate, "kbsync db migrate was still waiting after 20 s");
        Assert.Equal(0, (await migrate).ExitCode);
    }

    private static async Task OpenAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
    }
}

using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using Npgsql;

namespace KbSync.IntegrationTests.Outages;

/// <summary>
/// PostgreSQL goes away for 20 s in the middle of a burst (here: the worker's connections go through a
/// <see cref="TcpProxy"/> that is paused): the worker's partitions pause and retry, in order, without
/// counting it against any request, and once the database is back every note lands exactly once, in
/// publish order per KB. Nothing fails, nothing is lost.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class PostgresOutageTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private static readonly string[] Kbs = ["outage-a", "outage-b", "outage-c"];
    private KbSyncSandbox _sandbox = null!;
    private Dictionary<string, GitRemote> _remotes = null!;
    private TcpProxy _proxy = null!;
    private WorkerProcess _worker = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remotes = await _sandbox.RegisterKbsWithRemotesAsync(Kbs);
        var direct = new NpgsqlConnectionStringBuilder(_sandbox.Database.ConnectionString);
        _proxy = TcpProxy.Start(direct.Host!, direct.Port);
        var throughProxy = new NpgsqlConnectionStringBuilder(direct.ConnectionString) { Host = "127.0.0.1", Port = _proxy.Port }.ConnectionString;
        _worker = await _sandbox.StartWorkerAsync("w1", new Dictionary<string, string>
        {
            ["ConnectionStrings__KbSync"] = throughProxy,
            ["KbWorker__MaxFailedAttempts"] = "2", // an outage counted against requests would fail them quickly
        });
    }

    public async Task DisposeAsync()
    {
        await _sandbox.DisposeAsync();
        await _proxy.DisposeAsync();
    }

    [Fact]
    public async Task A_20_second_PostgreSQL_outage_mid_burst_pauses_the_partitions_and_loses_nothing_and_keeps_order()
    {
        await using var producer = await _sandbox.StartProducerAsync();
        var published = Kbs.ToDictionary(kb => kb, _ => new List<Guid>());
        async Task PublishAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var kb = Kbs[i % Kbs.Length];
                published[kb].Add(await producer.Client.SubmitNoteAsync(kb, "alice", new NoteContent($"note {published[kb].Count} of {kb}, {Guid.NewGuid()}")));
                await Task.Delay(20);
            }
        }

        await PublishAsync(30);
        await _sandbox.WaitForFinalAsync(10, TimeSpan.FromMinutes(1));

        _proxy.Pause();
        var outage = DateTime.UtcNow;
        await PublishAsync(30); // the broker still takes them while the database is gone
        await Task.Delay(TimeSpan.FromSeconds(20) - (DateTime.UtcNow - outage));
        Assert.Contains("PostgreSQL is not answering", _worker.Output);
        Assert.False(_worker.HasExited);
        _proxy.Resume();

        var rows = await _sandbox.WaitForFinalAsync(60, TimeSpan.FromMinutes(2));

        Assert.All(rows, row => Assert.True(row.Status == OperationStatus.Succeeded, $"{row.Id}: {row.Status} {row.ErrorCode}: {row.ErrorMessage}"));
        foreach (var kb in Kbs)
        {
            _sandbox.AssertPublishOrder(kb, published[kb], _remotes[kb], rows);
        }

        Assert.DoesNotContain(ReasonCodes.InternalError, _worker.Output);
    }
}

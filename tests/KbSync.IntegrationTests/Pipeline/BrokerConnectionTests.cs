using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Pipeline;

/// <summary>The broker drops the worker's connection (a broker restart, a network cut): the worker reconnects and goes on, in order.</summary>
[Collection(ServicesCollection.Name)]
public sealed class BrokerConnectionTests(RabbitMqService rabbit, PostgresService postgres) : IAsyncLifetime
{
    private KbSyncSandbox _sandbox = null!;
    private GitRemote _remote = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(rabbit, postgres);
        _remote = _sandbox.CreateRemote("team-notes");
        await _sandbox.RegisterKbAsync("team-notes", _remote.Path);
        await _sandbox.StartWorkerAsync("w1");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task After_the_broker_drops_the_workers_connection_notes_go_on_landing_in_order()
    {
        var published = new List<Guid>();
        await PublishAsync(published, "before", 3);
        await _sandbox.WaitForFinalAsync(3, TimeSpan.FromMinutes(1));

        var dropped = await ConnectionsAsync(c => c.Count > 0);
        foreach (var connection in dropped)
        {
            await rabbit.CloseConnectionAsync(connection);
        }

        await ConnectionsAsync(c => c.Count > 0 && !c.Intersect(dropped).Any()); // the worker is back
        await PublishAsync(published, "after", 3);

        var rows = await _sandbox.WaitForFinalAsync(6, TimeSpan.FromMinutes(1));
        Assert.All(rows, r => Assert.True(r.Status == OperationStatus.Succeeded, $"{r.Status} {r.ErrorCode} {r.ErrorMessage}"));
        _sandbox.AssertPublishOrder("team-notes", published, _remote, rows);
    }

    private async Task PublishAsync(List<Guid> published, string label, int count)
    {
        await using var producer = await _sandbox.StartProducerAsync();
        for (var n = 0; n < count; n++)
        {
            published.Add(await producer.Client.SubmitNoteAsync("team-notes", "alice", new NoteContent($"Note {n} {label} the drop.")));
        }
    }

    /// <summary>Polls the management API (it lists connections a few seconds late) until <paramref name="done"/> holds.</summary>
    private async Task<IReadOnlyList<string>> ConnectionsAsync(Func<IReadOnlyList<string>, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var connections = await rabbit.ConnectionsAsync(_sandbox.VirtualHost.Name);
            if (done(connections))
            {
                return connections;
            }

            Assert.True(DateTime.UtcNow < deadline, $"The virtual host's connections never got there: {string.Join(", ", connections)}\n{_sandbox.WorkerOutput()}");
            await Task.Delay(500);
        }
    }
}

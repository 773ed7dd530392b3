using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Producer.Client;

namespace KbSync.IntegrationTests.Outages;

/// <summary>
/// Right after a cluster node dies, a queue it led is still recorded with that node as its leader until
/// the new leader has written itself into the record. RabbitMQ 3.10 refuses a publish (basic.nack) made
/// on a channel's first publish to the queue in that window, and then every later publish of that same
/// channel to that queue, for as long as the dead node stays down: the channel asks only the node its
/// first publish found in the record. The client therefore publishes again on a new channel after a
/// refusal. Here the window is made to last: one node is killed, the queue's record is pointed at it by
/// hand, a producer's first publish is refused, the record is put right, and the producer's next publish
/// must go through (the same producer, which before this fix stayed refused until the node came back).
/// </summary>
[Trait("Category", BrokerOutagesCollection.Category)]
[Collection(BrokerOutagesCollection.Name)]
public sealed class StaleQueueLeaderTests(ThreeBrokerNodes cluster, PostgresService postgres) : IClassFixture<ThreeBrokerNodes>, IAsyncLifetime
{
    private const string Kb = "stale-leader";
    private KbSyncSandbox _sandbox = null!;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(cluster.Service, postgres, partitions: 1);
        await _sandbox.RegisterKbAsync(Kb, _sandbox.CreateRemote(Kb).Path);
    }

    public async Task DisposeAsync()
    {
        await cluster.StartAllAsync(); // removing the virtual host needs every queue member
        await _sandbox.DisposeAsync();
    }

    [Fact]
    public async Task A_producer_refused_while_its_queue_named_a_dead_leader_publishes_again_once_the_queue_has_a_live_one()
    {
        var worker = await _sandbox.StartWorkerAsync("w1", Hosts(first: 1));
        await _sandbox.WaitUntilPartitionsSharedAsync();
        var queue = Topology.PartitionQueue(0);
        var leader = (await cluster.QueuesAsync(_sandbox.VirtualHost.Name)).Single(q => q.Name == queue).Leader!;
        var live = Enumerable.Range(1, cluster.Count).First(n => cluster.NodeName(n) == leader);
        var dead = Enumerable.Range(1, cluster.Count).First(n => n != live);
        await cluster.KillAsync(dead);
        await RecordLeaderAsync(live, queue, cluster.NodeName(dead));

        await using var producer = await ProducerHost.StartAsync(WithHosts(_sandbox.Environment(), Hosts(first: live)));
        await Assert.ThrowsAsync<KbSyncQueueFullException>(() => producer.Client.SubmitNoteAsync(Kb, "alice", new NoteContent("while the record names a dead leader")));

        await RecordLeaderAsync(live, queue, leader);
        var id = await producer.Client.SubmitNoteAsync(Kb, "alice", new NoteContent("once the record names the live leader"));

        Assert.Equal(OperationStatus.Succeeded, (await _sandbox.WaitForOperationAsync(id)).Status);
        await worker.StopAsync();
    }

    /// <summary>Writes <paramref name="leaderNode"/> into the queue's record as its leader, as the new leader does itself after an election.</summary>
    private async Task RecordLeaderAsync(int viaNode, string queue, string leaderNode)
    {
        var expression =
            $"QName = rabbit_misc:r(<<\"{_sandbox.VirtualHost.Name}\">>, queue, <<\"{queue}\">>), " +
            "rabbit_misc:execute_mnesia_transaction(fun() -> rabbit_amqqueue:update(QName, fun(Q) -> " +
            $"{{RaName, _}} = amqqueue:get_pid(Q), amqqueue:set_pid(Q, {{RaName, '{leaderNode}'}}) end) end), ok.";
        var answer = await cluster.CtlAsync(viaNode, "eval", expression);
        Assert.Contains("ok", answer);
    }

    private Dictionary<string, string> Hosts(int first) =>
        Enumerable.Range(0, cluster.Count).ToDictionary(i => $"RabbitMq__Hosts__{i}", i => cluster.AmqpEndpoint((first - 1 + i) % cluster.Count + 1));

    private static Dictionary<string, string> WithHosts(IReadOnlyDictionary<string, string> environment, Dictionary<string, string> hosts)
    {
        var merged = new Dictionary<string, string>(environment);
        foreach (var (name, value) in hosts)
        {
            merged[name] = value;
        }

        return merged;
    }
}

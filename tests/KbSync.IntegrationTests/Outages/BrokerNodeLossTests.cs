using System.Diagnostics;
using System.Text.Json;
using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Outages;

/// <summary>
/// A three-node RabbitMQ cluster loses a node to SIGKILL while a steady stream of notes over twelve KBs
/// comes in from careful producers: the node that leads the most partition queues, with requests waiting
/// in them. Three workers and three producers start on different nodes (each lists the nodes from another
/// one), so some lose their connection and move to the next node, and others keep theirs while the queues
/// elect new leaders. The node is restarted later, while the stream goes on. Every confirmed note lands
/// exactly once, in publish order per KB; the time until notes flow again is printed (the README's
/// cluster section records it).
/// </summary>
[Trait("Category", BrokerOutagesCollection.Category)]
[Collection(BrokerOutagesCollection.Name)]
public sealed class BrokerNodeLossTests(ThreeBrokerNodes cluster, PostgresService postgres) : IClassFixture<ThreeBrokerNodes>, IAsyncLifetime
{
    private static readonly string[] Kbs = Enumerable.Range(1, 12).Select(i => $"stream-{i:D2}").ToArray();
    private KbSyncSandbox _sandbox = null!;
    private Dictionary<string, GitRemote> _remotes = null!;
    private readonly List<CarefulProducer> _producers = [];
    private NoteStream? _stream;

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(cluster.Service, postgres);
        _remotes = await _sandbox.RegisterKbsWithRemotesAsync(Kbs);
        for (var node = 1; node <= cluster.Count; node++)
        {
            await _sandbox.StartWorkerAsync($"w{node}", HostsFrom(node));
        }

        await _sandbox.WaitUntilPartitionsSharedAsync();
        for (var node = 1; node <= cluster.Count; node++)
        {
            var environment = new Dictionary<string, string>(_sandbox.Environment());
            foreach (var (name, value) in HostsFrom(node))
            {
                environment[name] = value;
            }

            _producers.Add(await CarefulProducer.StartAsync(environment, $"producer-{node}"));
        }
    }

    public async Task DisposeAsync()
    {
        await cluster.StartAllAsync(); // a test that failed with a node down: removing the virtual host needs every queue member
        foreach (var producer in _producers)
        {
            await producer.DisposeAsync();
        }

        await _sandbox.DisposeAsync();
    }

    [Fact]
    public async Task Killing_the_node_that_leads_the_most_partition_queues_mid_stream_loses_no_confirmed_note_and_keeps_each_kbs_order()
    {
        var partitions = (await cluster.QueuesAsync(_sandbox.VirtualHost.Name)).Where(q => Topology.TryParsePartitionQueue(q.Name, out _)).ToList();
        Assert.Equal(_sandbox.Partitions, partitions.Count);
        Assert.All(partitions, q => Assert.True(q.Type == "quorum" && q.Members.Count == 3 && q.Online.Count == 3, $"{q.Name}: {q.Type}, members {string.Join(", ", q.Members)}"));
        var listed = await cluster.CtlAsync(1, "list_queues", "-p", _sandbox.VirtualHost.Name, "name", "members", "--formatter", "json"); // as an operator checks it
        using (var json = JsonDocument.Parse(listed))
        {
            var members = json.RootElement.EnumerateArray().Where(q => Topology.TryParsePartitionQueue(q.GetProperty("name").GetString()!, out _))
                .ToDictionary(q => q.GetProperty("name").GetString()!, q => q.GetProperty("members").EnumerateArray().Select(m => m.GetString()).ToHashSet());
            Assert.True(members.Count == _sandbox.Partitions && members.Values.All(m => m.SetEquals(Enumerable.Range(1, cluster.Count).Select(cluster.NodeName))),
                $"rabbitmqctl list_queues does not show every partition queue with a member on each node:\n{listed}");
        }

        var stream = _stream = new NoteStream(_producers, Kbs, pause: TimeSpan.FromMilliseconds(200));
        stream.Start();
        await _sandbox.WaitForFinalAsync(60, TimeSpan.FromMinutes(2));
        stream.Burst(60); // requests wait in the queues when the node goes
        await stream.WaitUntilPublishedAsync(stream.Count + 60, TimeSpan.FromMinutes(1));

        var leaders = partitions.Select(q => q.Name).ToDictionary(q => q, q => (string?)null);
        foreach (var queue in (await cluster.QueuesAsync(_sandbox.VirtualHost.Name)).Where(q => leaders.ContainsKey(q.Name)))
        {
            leaders[queue.Name] = queue.Leader;
        }

        var victim = Enumerable.Range(1, cluster.Count).MaxBy(node => leaders.Values.Count(l => l == cluster.NodeName(node)));
        var led = leaders.Values.Count(l => l == cluster.NodeName(victim));
        var waiting = stream.Count - (await _sandbox.WaitForFinalAsync(0, TimeSpan.Zero)).Count;
        await cluster.KillAsync(victim);
        var killedAt = DateTimeOffset.UtcNow;
        Console.WriteLine($"[node loss] killed node {victim} ({cluster.NodeName(victim)}), leader of {led} of {partitions.Count} partition queues, with {waiting} confirmed notes not yet final");

        var survivors = Enumerable.Range(1, cluster.Count).Where(n => n != victim).Select(cluster.NodeName).ToHashSet();
        var newLeaders = await OutageWait.UntilAsync(TimeSpan.FromSeconds(60), "every partition queue to have a leader on a surviving node", async () =>
            (await cluster.QueuesAsync(_sandbox.VirtualHost.Name)).Where(q => leaders.ContainsKey(q.Name)).All(q => q.Leader is { } l && survivors.Contains(l)), Explain);
        await OutageWait.UntilAsync(TimeSpan.FromMinutes(2), "notes published after the kill to land in every KB", async () =>
            stream.FlowingAgain(killedAt, await _sandbox.WaitForFinalAsync(0, TimeSpan.Zero)) is not null, Explain);

        var restart = Stopwatch.StartNew();
        await cluster.RestartAsync(victim);
        var answering = restart.Elapsed;
        var restartedAt = DateTimeOffset.UtcNow;
        await OutageWait.UntilAsync(TimeSpan.FromMinutes(2), $"node {victim} to be back in every partition queue", async () =>
            (await cluster.QueuesAsync(_sandbox.VirtualHost.Name)).Where(q => leaders.ContainsKey(q.Name)).All(q => q.Online.Count == 3), Explain);
        var replicasBack = restart.Elapsed;
        await stream.WaitUntilPublishedAsync(stream.Count + 45, TimeSpan.FromMinutes(2)); // the stream goes on with the node back
        await stream.StopAsync();

        var total = stream.Count;
        var rows = await _sandbox.WaitForFinalAsync(total, TimeSpan.FromMinutes(3));

        var again = stream.FlowingAgain(killedAt, rows)!.Value;
        Console.WriteLine(
            $"[node loss] {total} notes over {Kbs.Length} KBs, 3 workers, 3 producers; node {victim} killed: new leaders elected within {newLeaders.TotalSeconds:0.0} s, " +
            $"notes first attempted after the kill landed after {again.First.TotalSeconds:0.0} s (first KB) and {again.EveryKb.TotalSeconds:0.0} s (every KB); " +
            $"restarted: answering after {answering.TotalSeconds:0.0} s, a member of every partition queue again after {replicasBack.TotalSeconds:0.0} s\n" +
            $"[node loss] per KB: {stream.FlowingAgainPerKb(killedAt, rows)}\n" +
            $"[node loss] {stream.RetrySummary()}");

        stream.AssertLandedOnceInOrder(_sandbox, _remotes, rows, "node loss");

        Assert.True(waiting > 0, "no confirmed note was waiting when the node was killed: the test would prove nothing");
        Assert.True(stream.Notes.Count(n => n.FirstAttempt > killedAt && n.ConfirmedAt < restartedAt) >= Kbs.Length,
            "hardly any note was published while the node was down: the test would prove nothing");
    }

    /// <summary>Every node, starting with <paramref name="first"/>: the order a process tries them in.</summary>
    private Dictionary<string, string> HostsFrom(int first) =>
        Enumerable.Range(0, cluster.Count).ToDictionary(i => $"RabbitMq__Hosts__{i}", i => cluster.AmqpEndpoint((first - 1 + i) % cluster.Count + 1));

    private string Explain() => $"{_stream?.RetrySummary()}\n{_sandbox.WorkerOutput()}";
}

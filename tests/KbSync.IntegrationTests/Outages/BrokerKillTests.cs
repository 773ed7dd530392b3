using System.Diagnostics;
using KbSync.IntegrationTests.Fixtures;

namespace KbSync.IntegrationTests.Outages;

/// <summary>
/// The single broker node of a deployment without a cluster is killed with SIGKILL (no goodbye to its
/// clients, nothing flushed on the way out) while a steady stream of notes over six KBs comes in from
/// careful producers, with requests waiting in the queues, and is started again a few seconds later.
/// The node is one of the test's own (<see cref="OneBrokerNode"/>), never the shared broker. Quorum
/// queues confirm a request only once it is on disk, so every confirmed note lands exactly once, in
/// publish order per KB; the time until notes flow again after the restart is printed
/// (the README's cluster section records it).
/// </summary>
[Trait("Category", BrokerOutagesCollection.Category)]
[Collection(BrokerOutagesCollection.Name)]
public sealed class BrokerKillTests(OneBrokerNode broker, PostgresService postgres) : IClassFixture<OneBrokerNode>, IAsyncLifetime
{
    private static readonly string[] Kbs = Enumerable.Range(1, 6).Select(i => $"single-{i:D2}").ToArray();
    private static readonly TimeSpan Down = TimeSpan.FromSeconds(3);
    private KbSyncSandbox _sandbox = null!;
    private Dictionary<string, GitRemote> _remotes = null!;
    private readonly List<CarefulProducer> _producers = [];

    public async Task InitializeAsync()
    {
        _sandbox = await KbSyncSandbox.CreateAsync(broker.Service, postgres);
        _remotes = await _sandbox.RegisterKbsWithRemotesAsync(Kbs);
        await _sandbox.StartWorkerAsync("w1");
        await _sandbox.StartWorkerAsync("w2");
        await _sandbox.WaitUntilPartitionsSharedAsync();
        for (var p = 1; p <= 2; p++)
        {
            _producers.Add(await CarefulProducer.StartAsync(_sandbox.Environment(), $"producer-{p}"));
        }
    }

    public async Task DisposeAsync()
    {
        await broker.StartAllAsync(); // a test that failed with the node down: removing the virtual host needs it
        foreach (var producer in _producers)
        {
            await producer.DisposeAsync();
        }

        await _sandbox.DisposeAsync();
    }

    [Fact]
    public async Task Killing_the_only_broker_node_mid_stream_and_starting_it_again_loses_no_confirmed_note_and_keeps_each_kbs_order()
    {
        var stream = new NoteStream(_producers, Kbs, pause: TimeSpan.FromMilliseconds(100));
        stream.Start();
        await _sandbox.WaitForFinalAsync(20, TimeSpan.FromMinutes(1));
        stream.Burst(40); // requests wait in the queues when the node goes
        await stream.WaitUntilPublishedAsync(stream.Count + 40, TimeSpan.FromMinutes(1));

        var waiting = stream.Count - (await _sandbox.WaitForFinalAsync(0, TimeSpan.Zero)).Count;
        await broker.KillAsync(1);
        var killedAt = DateTimeOffset.UtcNow;
        Console.WriteLine($"[broker kill] killed the only node ({broker.NodeName(1)}) with {waiting} confirmed notes not yet final");

        await Task.Delay(Down); // the producers retry meanwhile, the workers try to reconnect
        var restart = Stopwatch.StartNew();
        await broker.RestartAsync(1);
        var answering = restart.Elapsed;
        var restartedAt = DateTimeOffset.UtcNow;

        await OutageWait.UntilAsync(TimeSpan.FromMinutes(2), "notes first attempted after the restart to land in every KB", async () =>
            stream.FlowingAgain(restartedAt, await _sandbox.WaitForFinalAsync(0, TimeSpan.Zero)) is not null, () => $"{stream.RetrySummary()}\n{_sandbox.WorkerOutput()}");
        await stream.WaitUntilPublishedAsync(stream.Count + 30, TimeSpan.FromMinutes(1)); // and the stream goes on
        await stream.StopAsync();

        var total = stream.Count;
        var rows = await _sandbox.WaitForFinalAsync(total, TimeSpan.FromMinutes(2));
        var afterKill = stream.FlowingAgain(killedAt, rows)!.Value;
        var afterRestart = stream.FlowingAgain(restartedAt, rows)!.Value;
        Console.WriteLine(
            $"[broker kill] {total} notes over {Kbs.Length} KBs, 2 workers, 2 producers; the only node killed, down {Down.TotalSeconds:0} s, " +
            $"answering {answering.TotalSeconds:0.0} s after its start; notes first attempted after the kill landed {afterKill.First.TotalSeconds:0.0} s (first KB) " +
            $"and {afterKill.EveryKb.TotalSeconds:0.0} s (every KB) after it, those first attempted after the restart {afterRestart.First.TotalSeconds:0.0} s " +
            $"and {afterRestart.EveryKb.TotalSeconds:0.0} s after the node answered\n" +
            $"[broker kill] per KB: {stream.FlowingAgainPerKb(restartedAt, rows)}\n" +
            $"[broker kill] {stream.RetrySummary()}");

        stream.AssertLandedOnceInOrder(_sandbox, _remotes, rows, "broker kill");

        Assert.True(waiting > 0, "no confirmed note was waiting when the node was killed: the test would prove nothing");
        Assert.True(stream.Notes.Any(n => n.FirstAttempt < restartedAt && n.ConfirmedAt > killedAt),
            "no producer was publishing while the node was down: the test would prove nothing");
    }
}

using System.Diagnostics;
using System.Text.Json;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// RabbitMQ nodes of a test class's own, for the tests that kill and restart brokers (which the shared
/// broker must never suffer). <c>scripts/rabbitmq-cluster</c> runs them, exactly as <c>./dev services up
/// --rabbitmq-nodes 3</c> does, from Debian's <c>rabbitmq-server</c> package (<c>./dev test-deps</c>
/// installs it), with names of their own, ports found free below the ephemeral range (a killed node's
/// port must still be free when it restarts), and their state under <c>.state/test-brokers/</c>, removed
/// afterwards. Starting three nodes and clustering them takes about 25 s, so a test class shares them.
/// </summary>
public abstract class BrokerNodes(int count) : IAsyncLifetime
{
    private static readonly string Script = Path.Combine(RepositoryRoot(), "scripts", "rabbitmq-cluster");
    private readonly string _name = "kbsync-t" + Guid.NewGuid().ToString("N")[..8];
    private string _folder = "";
    private List<(int Amqp, int Management, int Distribution)> _ports = [];

    public int Count { get; } = count;

    /// <summary>Vhosts, users and the management API of these nodes, as the other tests have them of the shared broker.</summary>
    public RabbitMqService Service { get; private set; } = null!;

    /// <summary>Node <paramref name="node"/>'s Erlang node name (1-based, as the script counts).</summary>
    public string NodeName(int node) => $"{_name}-{node}@localhost";

    /// <summary>Node <paramref name="node"/>'s AMQP endpoint, as <c>RabbitMq__Hosts__n</c> takes it.</summary>
    public string AmqpEndpoint(int node) => $"127.0.0.1:{_ports[node - 1].Amqp}";

    public async Task InitializeAsync()
    {
        _folder = Path.Combine(RepositoryRoot(), ".state", "test-brokers", _name);
        _ports = FreePorts.BelowEphemeralRange(3 * Count).Chunk(3).Select(p => (p[0], p[1], p[2])).ToList();
        var started = Stopwatch.StartNew();
        try
        {
            await RunScriptAsync(TimeSpan.FromMinutes(5), "up");
        }
        catch
        {
            await DisposeAsync(); // no node left running when the tests cannot use them
            throw;
        }

        Console.WriteLine($"[broker nodes] {Count} node(s) {_name} up after {started.Elapsed.TotalSeconds:0.0} s (state in {_folder})");
        Service = await RabbitMqService.ForNodes(_ports.Select(p => (p.Amqp, p.Management)).ToList());
    }

    /// <summary>SIGKILL node <paramref name="node"/>: no goodbye to clients or peers, as a crash or a power cut.</summary>
    public Task KillAsync(int node) => RunScriptAsync(TimeSpan.FromSeconds(60), "kill", node.ToString());

    /// <summary>Starts node <paramref name="node"/> again from its state and waits until it answers (it rejoins its cluster by itself).</summary>
    public Task RestartAsync(int node) => RunScriptAsync(TimeSpan.FromMinutes(3), "start", node.ToString());

    /// <summary>Starts every node that is not running (after a test that failed with one down), as <c>up</c> does.</summary>
    public Task StartAllAsync() => RunScriptAsync(TimeSpan.FromMinutes(3), "up");

    /// <summary><c>rabbitmqctl</c> against node <paramref name="node"/>; returns what it printed.</summary>
    public Task<string> CtlAsync(int node, params string[] arguments) => RunScriptAsync(TimeSpan.FromMinutes(1), ["ctl", node.ToString(), .. arguments]);

    /// <summary>Each queue of a virtual host: its type and, for a quorum queue, its leader, members and the members online.</summary>
    public async Task<IReadOnlyList<QueueReplicas>> QueuesAsync(string virtualHost)
    {
        using var json = JsonDocument.Parse(await Service.GetQueuesJsonAsync(virtualHost));
        static IReadOnlyList<string> Names(JsonElement queue, string property) =>
            queue.TryGetProperty(property, out var names) && names.ValueKind == JsonValueKind.Array ? names.EnumerateArray().Select(n => n.GetString()!).ToList() : [];
        return json.RootElement.EnumerateArray().Select(q => new QueueReplicas(
            q.GetProperty("name").GetString()!,
            q.GetProperty("type").GetString()!,
            q.TryGetProperty("leader", out var leader) ? leader.GetString() : null,
            Names(q, "members"),
            Names(q, "online"))).ToList();
    }

    /// <summary>SIGKILLs every node that runs (their state is deleted next: a graceful stop would only take longer) and removes their folder.</summary>
    public async Task DisposeAsync()
    {
        try
        {
            for (var node = 1; node <= Count; node++)
            {
                try
                {
                    await KillAsync(node);
                }
                catch (InvalidOperationException error) when (error.Message.Contains($"node {node} is not running", StringComparison.Ordinal))
                {
                    // killed by the test, or never started
                }
            }
        }
        finally
        {
            if (Directory.Exists(_folder))
            {
                Directory.Delete(_folder, recursive: true);
            }
        }
    }

    private async Task<string> RunScriptAsync(TimeSpan timeout, params string[] arguments)
    {
        var info = new ProcessStartInfo(Script, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.Environment["KBSYNC_CLUSTER_DIR"] = _folder;
        info.Environment["KBSYNC_CLUSTER_NODES"] = Count.ToString();
        info.Environment["KBSYNC_CLUSTER_NAME"] = _name;
        info.Environment["KBSYNC_CLUSTER_AMQP_PORTS"] = string.Join(',', _ports.Select(p => p.Amqp));
        info.Environment["KBSYNC_CLUSTER_MGMT_PORTS"] = string.Join(',', _ports.Select(p => p.Management));
        info.Environment["KBSYNC_CLUSTER_DIST_PORTS"] = string.Join(',', _ports.Select(p => p.Distribution));
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"scripts/rabbitmq-cluster {string.Join(' ', arguments)} took over {timeout}:\n{await errors}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/rabbitmq-cluster {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{await output}\n{await errors}");
        }

        return await output;
    }

    /// <summary>The checkout the tests were built from (it holds <c>scripts/rabbitmq-cluster</c>).</summary>
    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "scripts", "rabbitmq-cluster")))
            {
                return folder.FullName;
            }
        }

        throw new FileNotFoundException($"No scripts/rabbitmq-cluster above {AppContext.BaseDirectory}.");
    }
}

/// <summary>A cluster of three nodes, its queues replicated on all three.</summary>
public sealed class ThreeBrokerNodes() : BrokerNodes(3);

/// <summary>A single node, private to one test class.</summary>
public sealed class OneBrokerNode() : BrokerNodes(1);

/// <summary>A queue as the management API describes it; <see cref="Leader"/> and the lists only for quorum queues.</summary>
public sealed record QueueReplicas(string Name, string Type, string? Leader, IReadOnlyList<string> Members, IReadOnlyList<string> Online);

/// <summary>
/// The broker outage tests: each class runs brokers of its own (<see cref="BrokerNodes"/>), and with
/// worker processes they take both cores, so this collection runs alone, after the others.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrokerOutagesCollection : ICollectionFixture<PostgresService>
{
    public const string Name = "broker outages";

    /// <summary>The broker SIGKILL runs: fault injection of minutes, run on demand by <c>./dev test-outages</c>, not by <c>./dev test</c>.</summary>
    public const string Category = "BrokerOutage";
}

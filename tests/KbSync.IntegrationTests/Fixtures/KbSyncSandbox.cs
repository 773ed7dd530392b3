using KbSync.Contracts;
using KbSync.Persistence.Entities;
using KbSync.Persistence.Identity;
using Microsoft.EntityFrameworkCore;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// Everything one test needs, isolated from every other test: its own RabbitMQ virtual host, its
/// own database, a temp folder for remotes and worker data, and the worker processes and producers
/// it starts. Disposing stops them and removes it all.
/// </summary>
public sealed class KbSyncSandbox : IAsyncDisposable
{
    private readonly List<WorkerProcess> _workers = [];
    private readonly List<ProducerHost> _producers = [];
    private readonly List<ApiProcess> _apis = [];

    private KbSyncSandbox(RabbitVirtualHost virtualHost, TestDatabase database, int partitions)
    {
        VirtualHost = virtualHost;
        Database = database;
        Partitions = partitions;
    }

    public RabbitVirtualHost VirtualHost { get; }
    public TestDatabase Database { get; }
    public int Partitions { get; }
    public TempFolder Folder { get; } = new();
    public IReadOnlyList<WorkerProcess> Workers => _workers;

    /// <summary>
    /// The principal the tests' producers are (broker user <see cref="RabbitMqService.Username"/>): an
    /// administrator and a relay, so every request they publish is allowed unless a test says otherwise.
    /// </summary>
    public const string TestPrincipal = "test-producer";

    /// <summary>An API token of <see cref="TestPrincipal"/>.</summary>
    public string AdminToken { get; private set; } = "";

    /// <param name="migrated">False: the database is empty, as a first deployment finds it (and has no principals).</param>
    public static async Task<KbSyncSandbox> CreateAsync(RabbitMqService rabbit, PostgresService postgres, int partitions = Topology.DefaultPartitionCount, bool migrated = true)
    {
        var sandbox = new KbSyncSandbox(await rabbit.CreateVirtualHostAsync(), await postgres.CreateDatabaseAsync(migrated), partitions);
        if (migrated)
        {
            var identities = new IdentityStore(sandbox.Database.Factory());
            await identities.AddPrincipalAsync(TestPrincipal, "test-producer@tests.kbsync.invalid", Roles.Admin, brokerUser: rabbit.Username, relay: true);
            sandbox.AdminToken = (await identities.CreateTokenAsync(TestPrincipal, "tests")).Token;
        }

        return sandbox;
    }

    /// <summary>
    /// The environment a worker, producer, CLI or API process of this sandbox runs with. The remote rules
    /// (<c>Remotes__*</c>) allow what the suite's remotes are: local remotes anywhere in this sandbox's
    /// folder (the worker data folders under <c>workers/</c> stay refused: each worker marks its own), and
    /// the loopback git server (<see cref="GitHttpServer"/>, plain http on <c>127.0.0.1</c>: the https rule
    /// itself is tested with the defaults by <c>RemoteRuleTests</c>). Token variables need the default prefix
    /// (<c>KBSYNC_TOKEN_</c>), as in production.
    /// </summary>
    public Dictionary<string, string> Environment()
    {
        var environment = new Dictionary<string, string>(VirtualHost.Environment(Partitions))
        {
            ["ConnectionStrings__KbSync"] = Database.ConnectionString,
            ["KbWorker__DataPath"] = Folder.Combine("workers", "shared-default"),
            ["Remotes__LocalRoot"] = Folder.Path,
            ["Remotes__AllowedHosts__0"] = "127.0.0.1",
            ["Remotes__AllowHttp"] = "true",
        };
        return environment;
    }

    /// <summary>Starts a worker process with its own data folder (unless <paramref name="extra"/> says otherwise) and waits until its bus is up.</summary>
    public async Task<WorkerProcess> StartWorkerAsync(string id, IReadOnlyDictionary<string, string>? extra = null)
    {
        var environment = Environment();
        environment["KbWorker__DataPath"] = Folder.Combine("workers", id);
        foreach (var (name, value) in extra ?? new Dictionary<string, string>())
        {
            environment[name] = value;
        }

        var worker = await WorkerProcess.StartAsync(id, environment);
        _workers.Add(worker);
        return worker;
    }

    /// <summary>Waits until the running workers own every partition between them, each its share (P / workers, rounded down or up).</summary>
    public async Task WaitUntilPartitionsSharedAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var live = _workers.Where(w => !w.HasExited).ToList();
            var owned = live.Select(w => w.OwnedPartitions).ToList();
            if (live.Count > 0 && owned.SelectMany(o => o).Distinct().Count() == Partitions && owned.Sum(o => o.Count) == Partitions &&
                owned.All(o => o.Count >= Partitions / live.Count))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The workers did not share the {Partitions} partitions: " +
                    string.Join("; ", live.Select(w => $"{w.Id} owns [{string.Join(",", w.OwnedPartitions)}]")) + "\n" + WorkerOutput());
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Starts <c>kbsync api</c> with this sandbox's environment, its client signed in as <see cref="TestPrincipal"/>; stopped with the sandbox.</summary>
    public async Task<ApiProcess> StartApiAsync()
    {
        var api = await CliRunner.StartApiAsync(Environment(), AdminToken);
        _apis.Add(api);
        return api;
    }

    public async Task<ProducerHost> StartProducerAsync()
    {
        var producer = await ProducerHost.StartAsync(Environment());
        _producers.Add(producer);
        return producer;
    }

    public GitRemote CreateRemote(string name, string branch = "main") => new(Folder.Combine("remotes", name + ".git"), branch);

    /// <summary>A bare remote per KB id (named after it), each registered; returns them by KB id.</summary>
    public async Task<Dictionary<string, GitRemote>> RegisterKbsWithRemotesAsync(IEnumerable<string> kbIds)
    {
        var remotes = new Dictionary<string, GitRemote>();
        foreach (var kb in kbIds)
        {
            remotes[kb] = CreateRemote(kb);
            await RegisterKbAsync(kb, remotes[kb].Path);
        }

        return remotes;
    }

    /// <summary>
    /// Writes the KB's registry row directly, as given, without the registry's checks (fast, and able to
    /// write what the registry would refuse, as someone with access to the database could): the workers'
    /// own checks decide what they do with it.
    /// </summary>
    public async Task RegisterKbAsync(string kbId, string? remote, string branch = "main", string? tokenEnv = null)
    {
        await using var db = Database.CreateContext();
        db.KnowledgeBases.Add(new KnowledgeBaseRecord { Id = kbId, RemoteUrl = remote, Branch = branch, TokenEnv = tokenEnv, CreatedAt = DateTimeOffset.UtcNow });
        await db.SaveChangesAsync();
    }

    public async Task<OperationRecord?> FindOperationAsync(Guid operationId)
    {
        await using var db = Database.CreateContext();
        return await db.Operations.AsNoTracking().SingleOrDefaultAsync(o => o.Id == operationId);
    }

    /// <summary>Polls the history until the operation is final.</summary>
    public async Task<OperationRecord> WaitForOperationAsync(Guid operationId, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            if (await FindOperationAsync(operationId) is { } operation && operation.Status.IsFinal())
            {
                return operation;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Operation {operationId} not final after {timeout}. Workers said:\n{WorkerOutput()}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Polls the history until at least <paramref name="count"/> operations are final; returns them all.</summary>
    public async Task<List<OperationRecord>> WaitForFinalAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            await using var db = Database.CreateContext();
            var final = await db.Operations.AsNoTracking()
                .Where(o => o.Status != OperationStatus.Queued && o.Status != OperationStatus.Running)
                .ToListAsync();
            if (final.Count >= count)
            {
                return final;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Only {final.Count} of {count} operations final after {timeout}. Workers said:\n{WorkerOutput()}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Fails with a timeline (worker, attempts, start) of every operation when the remote's commit order differs from the publish order.</summary>
    public void AssertPublishOrder(string kbId, IReadOnlyList<Guid> published, GitRemote remote, IReadOnlyList<OperationRecord> rows)
    {
        var onRemote = remote.Commits().Where(c => c.Trailers is not null).Select(c => c.Trailers!.OperationId).ToList();
        if (published.SequenceEqual(onRemote))
        {
            return;
        }

        var timeline = published.Select((id, i) =>
        {
            var row = rows.SingleOrDefault(r => r.Id == id);
            return $"published #{i} on remote #{onRemote.IndexOf(id)} {id} worker {row?.WorkerId} attempts {row?.Attempts} started {row?.StartedAt:HH:mm:ss.fff} finished {row?.FinishedAt:HH:mm:ss.fff}";
        });
        Assert.Fail($"KB {kbId}: commit order differs from publish order:\n{string.Join('\n', timeline)}\n{WorkerOutput()}");
    }

    public string WorkerOutput() => string.Join("\n\n", _workers.Select(w => $"--- worker {w.Id} ---\n{w.Output}"));

    public async ValueTask DisposeAsync()
    {
        foreach (var api in _apis)
        {
            await api.DisposeAsync();
        }

        foreach (var producer in _producers)
        {
            await producer.DisposeAsync();
        }

        await Task.WhenAll(_workers.Select(w => w.DisposeAsync().AsTask()));
        await VirtualHost.DisposeAsync();
        await Database.DisposeAsync();
        Folder.Dispose();
    }
}

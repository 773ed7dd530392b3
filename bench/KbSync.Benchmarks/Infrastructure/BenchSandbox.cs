using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using KbSync.Benchmarks.Reporting;
using KbSync.Persistence;
using KbSync.Persistence.Identity;
using KbSync.Persistence.KnowledgeBases;
using KbSync.Producer.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace KbSync.Benchmarks.Infrastructure;

/// <summary>
/// One scenario's private world: its own RabbitMQ virtual host and PostgreSQL database (both created
/// here and deleted when disposed), a temp folder for remotes and worker data, the worker processes
/// and the in-process producer (the .NET client library) it starts.
/// </summary>
public sealed class BenchSandbox : IAsyncDisposable
{
    private static readonly string[] FinalStatuses = ["succeeded", "duplicate", "failed", "timed_out"];

    private readonly BenchSettings _settings;
    private readonly HttpClient _management;
    private readonly List<WorkerProcess> _workers = [];
    private readonly bool _keepFolder;
    private IHost? _producer;
    private NpgsqlDataSource? _history;
    private bool _vhostCreated;
    private bool _databaseCreated;

    private BenchSandbox(BenchSettings settings, string name, string folder, string logFolder, bool keepFolder)
    {
        _settings = settings;
        Name = name;
        Folder = folder;
        LogFolder = logFolder;
        _keepFolder = keepFolder;
        DatabaseName = name.Replace('-', '_');
        _management = new HttpClient
        {
            BaseAddress = new Uri($"http://{settings.RabbitHost}:{settings.RabbitManagementPort}/api/"),
            Timeout = TimeSpan.FromSeconds(30),
        };
        _management.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{settings.RabbitUser}:{settings.RabbitPassword}")));
        ConnectionString = new NpgsqlConnectionStringBuilder(settings.AdminConnectionString) { Database = DatabaseName }.ConnectionString;
    }

    /// <summary>The virtual host's name (the database is the same with '_').</summary>
    public string Name { get; }
    public string DatabaseName { get; }
    public string ConnectionString { get; }

    /// <summary>Remotes and worker data; deleted when disposed unless kept.</summary>
    public string Folder { get; }
    public string LogFolder { get; }

    public static async Task<BenchSandbox> CreateAsync(BenchSettings settings, string scenario, string runFolder, bool keepFolder, CancellationToken cancellationToken)
    {
        var name = $"kbsync-bench-{scenario}-{DateTime.UtcNow:HHmmss}-{Guid.NewGuid().ToString("N")[..6]}".ToLowerInvariant();
        var folder = Path.Combine(runFolder, "tmp", scenario);
        Directory.CreateDirectory(folder);
        var sandbox = new BenchSandbox(settings, name, folder, runFolder, keepFolder);
        try
        {
            (await sandbox._management.PutAsync($"vhosts/{name}", null, cancellationToken)).EnsureSuccessStatusCode();
            sandbox._vhostCreated = true;
            var permissions = new StringContent("""{"configure":".*","write":".*","read":".*"}""", Encoding.UTF8, "application/json");
            (await sandbox._management.PutAsync($"permissions/{name}/{Uri.EscapeDataString(settings.RabbitUser)}", permissions, cancellationToken)).EnsureSuccessStatusCode();

            await using (var admin = new NpgsqlConnection(settings.AdminConnectionString))
            {
                await admin.OpenAsync(cancellationToken);
                await using var create = new NpgsqlCommand($"CREATE DATABASE \"{sandbox.DatabaseName}\"", admin);
                await create.ExecuteNonQueryAsync(cancellationToken);
            }

            sandbox._databaseCreated = true;
            sandbox._history = NpgsqlDataSource.Create(sandbox.ConnectionString);
            await sandbox.AddPublisherAsync(cancellationToken);
            return sandbox;
        }
        catch
        {
            await sandbox.DisposeAsync();
            throw;
        }
    }

    /// <summary>The settings a worker, the CLI or a producer of this sandbox runs with.</summary>
    public Dictionary<string, string> Environment() => new()
    {
        ["RabbitMq__Host"] = _settings.RabbitHost,
        ["RabbitMq__Port"] = _settings.RabbitPort.ToString(CultureInfo.InvariantCulture),
        ["RabbitMq__VirtualHost"] = Name,
        ["RabbitMq__Username"] = _settings.RabbitUser,
        ["RabbitMq__Password"] = _settings.RabbitPassword,
        ["ConnectionStrings__KbSync"] = ConnectionString,
    };

    /// <summary>The principal the benchmark publishes as: its broker user, an admin and a relay (the workers refuse requests from a broker user that is no principal).</summary>
    public const string Publisher = "bench-publisher";

    private async Task AddPublisherAsync(CancellationToken cancellationToken)
    {
        var contexts = new ContextFactory(ConnectionString);
        await new DatabaseMigrator(contexts).MigrateAsync(cancellationToken);
        await new IdentityStore(contexts).AddPrincipalAsync(Publisher, "bench@bench.kbsync.invalid", Roles.Admin, brokerUser: _settings.RabbitUser, relay: true, cancellationToken: cancellationToken);
    }

    /// <summary><c>kbsync kb add &lt;id&gt; --remote &lt;remote&gt;</c>, the CLI a user would run (it also migrates the database).</summary>
    public async Task RegisterKbAsync(string kbId, string remote, CancellationToken cancellationToken)
    {
        var environment = Environment();
        environment["DOTNET_CONTENTROOT"] = Path.GetDirectoryName(_settings.CliDll)!;
        await ProcessRunner.CheckedAsync("dotnet", [_settings.CliDll, "kb", "add", kbId, "--remote", remote], environment, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Registers many KBs at once with the product's own <see cref="KbRegistry"/> in this process
    /// (the database migrated first by <see cref="DatabaseMigrator"/>): what <c>kbsync kb add</c> does,
    /// without starting the CLI once per KB.
    /// </summary>
    public async Task RegisterKbsAsync(IEnumerable<(string KbId, string Remote)> kbs, CancellationToken cancellationToken)
    {
        var contexts = new ContextFactory(ConnectionString);
        await new DatabaseMigrator(contexts).MigrateAsync(cancellationToken);
        var registry = new KbRegistry(contexts);
        foreach (var (kbId, remote) in kbs)
        {
            await registry.AddAsync(new KbRegistration(kbId, remote), replace: true, cancellationToken);
        }
    }

    /// <summary>
    /// Starts a worker process with its data under this sandbox's folder and waits for "Bus started";
    /// through <paramref name="launcher"/> when given (see <see cref="WorkerProcess.StartAsync"/>).
    /// </summary>
    public async Task<WorkerProcess> StartWorkerAsync(string workerId, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? extraEnvironment = null, IReadOnlyList<string>? launcher = null)
    {
        var environment = Environment();
        foreach (var (name, value) in extraEnvironment ?? new Dictionary<string, string>())
        {
            environment[name] = value;
        }

        environment["KbWorker__DataPath"] = Path.Combine(Folder, "workers", workerId);
        environment["DOTNET_CONTENTROOT"] = Path.GetDirectoryName(_settings.WorkerDll)!; // its appsettings.json: the log format
        var worker = await WorkerProcess.StartAsync(workerId, environment, _settings.WorkerDll, Path.Combine(LogFolder, $"{Name}-{workerId}.log"), TimeSpan.FromSeconds(90), launcher, cancellationToken);
        lock (_workers)
        {
            _workers.Add(worker); // workers may be started concurrently
        }

        return worker;
    }

    /// <summary>Until the workers own every partition between them, each its share (their "Partitions: …; owns N" lines).</summary>
    public static async Task WaitUntilPartitionsSharedAsync(IReadOnlyList<WorkerProcess> workers, int partitions, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (workers.Sum(w => w.OwnedPartitions.Count) != partitions || workers.Any(w => w.OwnedPartitions.Count < partitions / workers.Count))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The workers did not share the {partitions} partitions within 60 s: {string.Join(", ", workers.Select(w => $"{w.Id} owns {w.OwnedPartitions.Count}"))}.");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>The .NET client library in this process (<c>builder.AddKbSyncClient()</c>), started once.</summary>
    public async Task<KbSyncClient> StartClientAsync(CancellationToken cancellationToken)
    {
        if (_producer is null)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Configuration.AddInMemoryCollection(Environment().Select(e => new KeyValuePair<string, string?>(e.Key.Replace("__", ":"), e.Value)));
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.AddKbSyncClient();
            _producer = builder.Build();
            await _producer.StartAsync(cancellationToken);
        }

        return _producer.Services.GetRequiredService<KbSyncClient>();
    }

    /// <summary>Polls the history table until the operation's row is final (every <paramref name="pollInterval"/>).</summary>
    public async Task<OperationRow> WaitForFinalAsync(Guid operationId, TimeSpan timeout, TimeSpan pollInterval, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await FindOperationAsync(operationId, cancellationToken) is { } row && FinalStatuses.Contains(row.Status))
            {
                return row;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Operation {operationId} was not final after {timeout.TotalSeconds:0} s (worker log in {LogFolder}).");
            }

            await Task.Delay(pollInterval, cancellationToken);
        }
    }

    /// <summary>Polls until every operation of <paramref name="operationIds"/> has a final row; returns the rows in the given order.</summary>
    /// <param name="allFinal">Called as soon as the last is seen final, before the rows are read (one query each): a scenario reads its counters there.</param>
    public async Task<List<OperationRow>> WaitForAllFinalAsync(IReadOnlyList<Guid> operationIds, TimeSpan timeout, CancellationToken cancellationToken, Action? allFinal = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using (var count = _history!.CreateCommand("SELECT count(*) FROM operations WHERE id = ANY($1) AND status = ANY($2)"))
            {
                count.Parameters.Add(new NpgsqlParameter { Value = operationIds.ToArray() });
                count.Parameters.Add(new NpgsqlParameter { Value = FinalStatuses });
                var done = (long)(await count.ExecuteScalarAsync(cancellationToken))!;
                if (done >= operationIds.Count)
                {
                    break;
                }

                if (clock.Elapsed > timeout)
                {
                    throw new TimeoutException($"Only {done} of {operationIds.Count} operations were final after {timeout.TotalSeconds:0} s (worker logs in {LogFolder}).");
                }
            }

            await Task.Delay(100, cancellationToken);
        }

        allFinal?.Invoke();
        var rows = new List<OperationRow>(operationIds.Count);
        foreach (var id in operationIds)
        {
            rows.Add((await FindOperationAsync(id, cancellationToken))!);
        }

        return rows;
    }

    /// <summary>How many of <paramref name="operationIds"/> each worker ran, and on how many KBs (history's worker_id).</summary>
    public async Task<List<(string WorkerId, long Operations, long Kbs)>> WorkerSpreadAsync(IReadOnlyList<Guid> operationIds, CancellationToken cancellationToken)
    {
        await using var command = _history!.CreateCommand("""
            SELECT coalesce(worker_id, '?'), count(*), count(DISTINCT kb_id) FROM operations WHERE id = ANY($1) GROUP BY 1 ORDER BY 1
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = operationIds.ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var spread = new List<(string, long, long)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            spread.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2)));
        }

        return spread;
    }

    /// <summary>Connections to this sandbox's database now (pg_stat_activity), this process's own polling connection included.</summary>
    public async Task<long> DatabaseConnectionsAsync(CancellationToken cancellationToken)
    {
        await using var command = _history!.CreateCommand("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// The history table's rows and on-disk size (heap with its TOAST, and all its indexes), as the run left it
    /// (dead row versions of the queued → running → finished updates included) and, with <paramref name="compact"/>,
    /// after <c>VACUUM FULL</c> rewrote it with the live rows only.
    /// </summary>
    public async Task<HistorySize> HistorySizeAsync(bool compact, CancellationToken cancellationToken)
    {
        if (compact)
        {
            await using var vacuum = _history!.CreateCommand("VACUUM (FULL, ANALYZE) operations");
            await vacuum.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var command = _history!.CreateCommand("""
            SELECT (SELECT count(*) FROM operations), pg_table_size('operations'), pg_indexes_size('operations'),
                   (SELECT count(*) FROM pg_indexes WHERE tablename = 'operations')
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new HistorySize(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), (int)reader.GetInt64(3));
    }

    public async Task<OperationRow?> FindOperationAsync(Guid operationId, CancellationToken cancellationToken)
    {
        await using var command = _history!.CreateCommand("""
            SELECT kb_id, status, requested_at, started_at, finished_at, queue_wait_ms, lock_wait_ms,
                   pull_ms, process_ms, commit_ms, push_ms, note_path, commit_sha, error_code, error_message, attempts
              FROM operations WHERE id = $1
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = operationId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        double? D(int i) => reader.IsDBNull(i) ? null : reader.GetDouble(i);
        DateTime? T(int i) => reader.IsDBNull(i) ? null : reader.GetDateTime(i);
        string? S(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        return new OperationRow(
            operationId, reader.GetString(0), reader.GetString(1), reader.GetDateTime(2), T(3), T(4),
            D(5), D(6), D(7), D(8), D(9), D(10), S(11), S(12), S(13), S(14), reader.GetInt32(15));
    }

    public async Task<string> ServerVersionAsync(CancellationToken cancellationToken)
    {
        await using var command = _history!.CreateCommand("SELECT version()");
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Stops the producer and the workers, deletes the virtual host, the database and (unless kept) the
    /// folder, and says how long each took (one progress line), so a slow teardown shows where it went.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        var clock = Stopwatch.StartNew();
        var steps = new List<string>();
        void Step(string what)
        {
            steps.Add($"{what} {clock.Elapsed.TotalSeconds:N1} s");
            clock.Restart();
        }

        if (_producer is not null)
        {
            try
            {
                await _producer.StopAsync(CancellationToken.None);
            }
            finally
            {
                _producer.Dispose();
            }
        }

        Step("producer");
        await Task.WhenAll(_workers.Select(w => w.DisposeAsync().AsTask()));
        Step("workers");
        if (_history is not null)
        {
            await _history.DisposeAsync();
        }

        if (_vhostCreated)
        {
            await Quietly(async () => (await _management.DeleteAsync($"vhosts/{Name}")).EnsureSuccessStatusCode(), $"delete virtual host {Name}");
            Step("virtual host");
        }

        if (_databaseCreated && _keepFolder)
        {
            await Console.Error.WriteLineAsync($"[bench] --keep: database {DatabaseName} kept (drop it with: DROP DATABASE \"{DatabaseName}\")");
        }
        else if (_databaseCreated)
        {
            await Quietly(async () =>
            {
                await using var admin = new NpgsqlConnection(_settings.AdminConnectionString);
                await admin.OpenAsync();
                await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{DatabaseName}\" WITH (FORCE)", admin);
                await drop.ExecuteNonQueryAsync();
            }, $"drop database {DatabaseName}");
            Step("database");
        }

        _management.Dispose();
        if (!_keepFolder)
        {
            await Quietly(() =>
            {
                Directory.Delete(Folder, recursive: true);
                return Task.CompletedTask;
            }, $"delete {Folder}");
            Step("files");
        }

        Report.Progress($"{Name}: torn down ({string.Join(", ", steps)})");
    }

    private static async Task Quietly(Func<Task> action, string what)
    {
        try
        {
            await action();
        }
        catch (Exception error)
        {
            await Console.Error.WriteLineAsync($"[bench] warning: could not {what}: {error.Message}");
        }
    }
}

internal sealed class ContextFactory(string connectionString) : IDbContextFactory<KbSyncDbContext>
{
    private readonly DbContextOptions<KbSyncDbContext> _options =
        new DbContextOptionsBuilder<KbSyncDbContext>().UseNpgsql(connectionString).UseSnakeCaseNamingConvention().Options;

    public KbSyncDbContext CreateDbContext() => new(_options);
}

/// <summary>Rows of the history table and its bytes on disk: the table (with TOAST) and its <paramref name="Indexes"/> indexes.</summary>
public sealed record HistorySize(long Rows, long TableBytes, long IndexBytes, int Indexes)
{
    public double BytesPerRow => Rows == 0 ? double.NaN : (double)(TableBytes + IndexBytes) / Rows;
}

/// <summary>One history row (table <c>operations</c>), as the worker left it.</summary>
public sealed record OperationRow(
    Guid Id,
    string KbId,
    string Status,
    DateTime RequestedAt,
    DateTime? StartedAt,
    DateTime? FinishedAt,
    double? QueueWaitMs,
    double? LockWaitMs,
    double? PullMs,
    double? ProcessMs,
    double? CommitMs,
    double? PushMs,
    string? NotePath,
    string? CommitSha,
    string? ErrorCode,
    string? ErrorMessage,
    int Attempts)
{
    public bool Succeeded => Status is "succeeded";

    /// <summary>The git work: pull + process + commit + push.</summary>
    public double GitMs => (PullMs ?? 0) + (ProcessMs ?? 0) + (CommitMs ?? 0) + (PushMs ?? 0);

    /// <summary>From the worker taking the request to its result (history writes, lock, clone open, git work).</summary>
    public double? RunMs => StartedAt is { } s && FinishedAt is { } f ? (f - s).TotalMilliseconds : null;

    /// <summary>From the producer's publish (<c>requested_at</c>) to the worker's <c>finished_at</c>.</summary>
    public double? EndToEndMs => FinishedAt is { } f ? (f - RequestedAt).TotalMilliseconds : null;
}

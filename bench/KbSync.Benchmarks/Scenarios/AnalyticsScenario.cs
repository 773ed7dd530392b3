using System.Diagnostics;
using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;
using KbSync.Persistence.Analytics;
using KbSync.Persistence.Analytics.Rollups;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #5: every <see cref="OperationAnalytics"/> query under 1 s over 1,000,000 history rows. A
/// scratch database (created here, dropped at the end) migrated with the product's EF migrations
/// (AnalyticsIndexes included), seeded with <c>Scenarios/Analytics/operations-1m.sql</c> (50 KBs over
/// 30 days, clustered and analyzed, then the product's rollup builder caught up: <see cref="RollupBuilder.CatchUpAsync"/>), then each method timed for four scopes, one warm-up and
/// <see cref="BenchOptions.Repetitions"/> measured calls each, scopes interleaved per repetition.
/// </summary>
public sealed class AnalyticsScenario : IScenario
{
    public const double TargetMs = 1000;

    private static readonly DateTimeOffset Start = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Day = new(2026, 11, 18, 0, 0, 0, TimeSpan.Zero); // a Wednesday, no special day

    public string Name => "analytics-1m";

    public string Description => "issue #5: every OperationAnalytics query over 1,000,000 history rows (scratch database); target < 1 s each";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var settings = context.Settings;
        var database = $"kbsync_bench_analytics_{DateTime.UtcNow:HHmmss}_{Guid.NewGuid().ToString("N")[..6]}";
        var connectionString = new NpgsqlConnectionStringBuilder(settings.AdminConnectionString) { Database = database, CommandTimeout = 900 }.ConnectionString;
        await ExecuteAdminAsync(settings, $"CREATE DATABASE \"{database}\"", cancellationToken);
        try
        {
            var factory = new ContextFactory(connectionString);
            var clock = Stopwatch.StartNew();
            await using (var db = factory.CreateDbContext())
            {
                await db.Database.MigrateAsync(cancellationToken);
            }

            Report.Progress($"{Name}: database {database} migrated in {clock.Elapsed.TotalSeconds:N1} s; seeding 1,000,000 rows");
            clock.Restart();
            await SeedAsync(connectionString, cancellationToken);
            await new RollupBuilder(factory, Microsoft.Extensions.Options.Options.Create(new RollupBuilderOptions()),
                Microsoft.Extensions.Logging.Abstractions.NullLogger<RollupBuilder>.Instance).CatchUpAsync(cancellationToken);
            await using (var connection = new NpgsqlConnection(connectionString))
            {
                await connection.OpenAsync(cancellationToken);
                await using var analyze = new NpgsqlCommand("ANALYZE operation_rollups; ANALYZE requester_rollups; ANALYZE requester_waits", connection);
                await analyze.ExecuteNonQueryAsync(cancellationToken);
            }

            var seedSeconds = clock.Elapsed.TotalSeconds;
            var (rows, tableMb, indexMb) = await TableFactsAsync(connectionString, cancellationToken);
            Report.Progress($"{Name}: seeded {rows:N0} rows in {seedSeconds:N0} s (table {tableMb:N0} MB, indexes {indexMb:N0} MB)");

            var analytics = new OperationAnalytics(factory);
            var scopes = new (string Name, AnalyticsQuery Query)[]
            {
                ("kb-00 (27 % of rows), 30 days", new AnalyticsQuery("kb-00", Start, Start.AddDays(30))),
                ("kb-00, 1 day", new AnalyticsQuery("kb-00", Day, Day.AddDays(1))),
                ("all KBs, 1 day", new AnalyticsQuery(null, Day, Day.AddDays(1))),
                ("all KBs, 30 days", new AnalyticsQuery(null, Start, Start.AddDays(30))),
            };
            var methods = new (string Name, Func<AnalyticsQuery, Task> Call)[]
            {
                ("GetStatusCountsAsync", q => analytics.GetStatusCountsAsync(q, cancellationToken)),
                ("GetWaitsAsync", q => analytics.GetWaitsAsync(q, cancellationToken)),
                ("GetStepDurationsAsync", q => analytics.GetStepDurationsAsync(q, cancellationToken)),
                ("GetThroughputAsync", q => analytics.GetThroughputAsync(q, cancellationToken)),
                ("GetQueueContentionAsync", q => analytics.GetQueueContentionAsync(q, cancellationToken)),
                ("GetRequesterWaitsAsync", q => analytics.GetRequesterWaitsAsync(q, cancellationToken: cancellationToken)),
                ("GetWaitsOverTimeAsync", q => analytics.GetWaitsOverTimeAsync(q, cancellationToken)),
                ("GetAllAsync (all seven, one snapshot)", q => analytics.GetAllAsync(q, cancellationToken: cancellationToken)),
            };

            var reps = context.Options.Repetitions;
            var samples = new List<(int Scope, int Method, int Rep, double Ms)>();
            var loadBefore = MachineInfo.LoadAverage();
            for (var rep = 0; rep <= reps; rep++)
            {
                for (var m = 0; m < methods.Length; m++)
                {
                    for (var s = 0; s < scopes.Length; s++)
                    {
                        var call = Stopwatch.StartNew();
                        await methods[m].Call(scopes[s].Query);
                        samples.Add((s, m, rep, call.Elapsed.TotalMilliseconds));
                    }
                }

                Report.Progress($"{Name}: {(rep == 0 ? "warm-up" : $"repetition {rep}/{reps}")} done");
            }

            var report = context.Report;
            report.WriteLine($"== {Name} ==");
            report.WriteLine($"OperationAnalytics over {rows:N0} history rows (operations-1m.sql: 50 KBs, 30 days; table {tableMb:N0} MB, indexes");
            report.WriteLine($"{indexMb:N0} MB; seeded in {seedSeconds:N0} s, clustered, analyzed), in a scratch database migrated with the product's");
            report.WriteLine($"migrations (AnalyticsIndexes included). Each call through the product's OperationAnalytics (its own connection,");
            report.WriteLine($"read-only transaction, JIT off), timed in this process: one warm-up, then {reps} repetitions, scopes interleaved.");
            report.WriteLine("ms, median (max); '*' marks a median at or over the 1 s target.");
            report.WriteLine();
            var table = new TextTable(["query", .. scopes.Select(s => s.Name)]);
            var csv = new StringBuilder("scope,method,repetition,warmup,ms\n");
            var summaryCsv = new StringBuilder("scope,method,count,median_ms,p95_ms,min_ms,max_ms,under_target\n");
            var missed = new List<string>();
            var cells = 0;
            for (var m = 0; m < methods.Length; m++)
            {
                if (m == methods.Length - 1)
                {
                    table.Rule();
                }

                var row = new List<string> { methods[m].Name };
                for (var s = 0; s < scopes.Length; s++)
                {
                    var summary = Summary.Of(samples.Where(x => x.Scope == s && x.Method == m && x.Rep > 0).Select(x => x.Ms));
                    var over = summary.Median >= TargetMs;
                    row.Add($"{summary.Median:N0} ({summary.Max:N0}){(over ? " *" : "  ")}");
                    summaryCsv.Append(CultureInfo.InvariantCulture, $"\"{scopes[s].Name}\",{methods[m].Name.Split(' ')[0]},{summary.Count},{summary.Median:0.###},{summary.P95:0.###},{summary.Min:0.###},{summary.Max:0.###},{(!over).ToString().ToLowerInvariant()}\n");
                    if (m < methods.Length - 1)
                    {
                        cells++;
                        if (over)
                        {
                            missed.Add($"{methods[m].Name} over {scopes[s].Name}: median {summary.Median:N0} ms ({summary.Median / TargetMs:N2}x the target)");
                        }
                    }
                }

                table.Row([.. row]);
            }

            foreach (var x in samples)
            {
                csv.Append(CultureInfo.InvariantCulture, $"\"{scopes[x.Scope].Name}\",{methods[x.Method].Name.Split(' ')[0]},{x.Rep},{(x.Rep == 0).ToString().ToLowerInvariant()},{x.Ms:0.###}\n");
            }

            report.Write(table.ToString());
            report.WriteLine();
            report.WriteLine($"Target (issue #5): each query under 1 s over 1M rows. {cells - missed.Count} of {cells} single queries MET; {missed.Count} MISSED{(missed.Count > 0 ? ":" : ".")}");
            foreach (var line in missed)
            {
                report.WriteLine($"  {line}");
            }

            report.WriteLine("GetAllAsync runs all seven in one repeatable-read snapshot, so its time is their sum; it is shown for the API's /stats, not judged.");
            report.WriteLine($"Load average (1, 5, 15 min) before the queries: {loadBefore}; after: {MachineInfo.LoadAverage()}.");
            File.WriteAllText(context.ResultPath(Name, "calls.csv"), csv.ToString());
            File.WriteAllText(context.ResultPath(Name, "summary.csv"), summaryCsv.ToString());
            report.WriteLine($"Raw data: {Name}-calls.csv (every call), {Name}-summary.csv.");
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            try
            {
                await ExecuteAdminAsync(settings, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", CancellationToken.None);
            }
            catch (Exception error)
            {
                Report.Progress($"warning: could not drop database {database}: {error.Message}");
            }
        }
    }

    /// <summary>The SQL file, statement by statement on one connection (its temp table; VACUUM cannot run in a batch).</summary>
    private static async Task SeedAsync(string connectionString, CancellationToken cancellationToken)
    {
        var statements = await OperationsSeed.StatementsAsync("operations-1m.sql", new Dictionary<string, string>(), cancellationToken);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);

        // the secondary indexes are created again before CLUSTER, which rebuilds them anyway
        var indexes = await OperationsSeed.SecondaryIndexesAsync(connection, cancellationToken);

        async Task Execute(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 900 };
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        // the triggers log nothing before the builder has sealed a minute: off, they do not even look
        await Execute("ALTER TABLE operations DISABLE TRIGGER USER");
        foreach (var (name, _) in indexes)
        {
            await Execute($"DROP INDEX \"{name}\"");
        }

        var recreated = false;
        foreach (var statement in statements)
        {
            if (!recreated && statement.StartsWith("CLUSTER", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var (_, definition) in indexes)
                {
                    await Execute(definition);
                }

                recreated = true;
            }

            await Execute(statement);
        }

        if (!recreated)
        {
            foreach (var (_, definition) in indexes)
            {
                await Execute(definition);
            }
        }

        await Execute("ALTER TABLE operations ENABLE TRIGGER USER");
    }

    private static async Task<(long Rows, double TableMb, double IndexMb)> TableFactsAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT count(*), pg_table_size('operations') / 1048576.0, pg_indexes_size('operations') / 1048576.0 FROM operations", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), (double)reader.GetDecimal(1), (double)reader.GetDecimal(2));
    }

    private static async Task ExecuteAdminAsync(BenchSettings settings, string sql, CancellationToken cancellationToken)
    {
        await using var admin = new NpgsqlConnection(settings.AdminConnectionString);
        await admin.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, admin);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

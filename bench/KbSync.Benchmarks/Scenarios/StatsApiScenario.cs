using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;
using KbSync.Persistence.Analytics;
using KbSync.Persistence.Analytics.Rollups;
using KbSync.Persistence.KnowledgeBases;
using Npgsql;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #16: <c>GET /stats</c> and <c>GET /kbs/{kb}/stats</c> over 24 h, 7 d, 30 d and 90 d under 200 ms,
/// <c>kbsync stats</c> end to end under 1 s, on <see cref="BenchOptions.Rows"/> history rows
/// (<c>Scenarios/Analytics/operations-90d.sql</c>, generated inside PostgreSQL with the triggers off:
/// before the rollup builder has sealed anything they would log nothing anyway). A real <c>kbsync api</c>
/// process serves the calls over HTTP with an administrator's token; its rollup builder catches up with
/// the history first (timed, from <c>rollup_state</c>); one warm-up, then
/// <see cref="BenchOptions.Repetitions"/> calls each, interleaved. Then every percentile of the last
/// answer to each call is checked against <c>percentile_cont</c> over the raw rows, computed here in SQL.
/// </summary>
public sealed class StatsApiScenario : IScenario
{
    public const double ApiTargetMs = 200;
    public const double CliTargetMs = 1000;

    private static readonly string[] Ranges = ["24h", "7d", "30d", "90d"];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string Name => "stats-api";

    public string Description => "issue #16: GET /stats and /kbs/{kb}/stats (24h..90d) < 200 ms and kbsync stats < 1 s over --rows history rows (default 1M), percentiles checked against percentile_cont";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var (settings, options, report) = (context.Settings, context.Options, context.Report);
        await using var sandbox = await BenchSandbox.CreateAsync(settings, Name, context.RunFolder, options.Keep, cancellationToken);
        var factory = new ContextFactory(sandbox.ConnectionString);
        await sandbox.RegisterKbsAsync([], cancellationToken); // migrates
        var big = "kb-000";
        var small = "kb-150";
        var registry = new KbRegistry(factory);
        foreach (var kb in new[] { big, small })
        {
            await registry.AddAsync(new KbRegistration(kb, null), cancellationToken: cancellationToken);
        }

        Report.Progress($"{Name}: generating {options.Rows:N0} rows in {sandbox.DatabaseName}");
        var end = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        await GenerateAsync(sandbox.ConnectionString, options.Rows, end, cancellationToken);
        var generateSeconds = clock.Elapsed.TotalSeconds;
        await ExecuteAsync(sandbox.ConnectionString, "ALTER TABLE operations ENABLE TRIGGER USER", cancellationToken);
        var finished = await ScalarAsync<long>(sandbox.ConnectionString,
            "SELECT count(*) FROM operations WHERE status IN ('succeeded', 'duplicate', 'failed', 'timed_out')", cancellationToken);
        Report.Progress($"{Name}: generated in {generateSeconds:N0} s; the API's rollup builder catches up");

        var environment = sandbox.Environment();
        environment["DOTNET_CONTENTROOT"] = Path.GetDirectoryName(settings.CliDll)!;
        var (_, token) = await new KbSync.Persistence.Identity.IdentityStore(factory).CreateTokenAsync(BenchSandbox.Publisher, "stats-api", cancellationToken); // the sandbox's administrator
        var (apiPort, metricsPort) = (FreePort(), FreePort());
        using var api = StartApi(settings, environment, apiPort, metricsPort, Path.Combine(sandbox.LogFolder, "kbsync-api.log"));
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{apiPort}"), Timeout = TimeSpan.FromMinutes(5) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            await WaitForApiAsync(http, api, cancellationToken);
            clock.Restart();
            await WaitForRollupsAsync(sandbox.ConnectionString, api, cancellationToken);
            var catchUpSeconds = clock.Elapsed.TotalSeconds;
            await ExecuteAsync(sandbox.ConnectionString, "ANALYZE operation_rollups; ANALYZE requester_rollups; ANALYZE requester_waits", cancellationToken);
            var sizes = await SizesAsync(sandbox.ConnectionString, cancellationToken);
            Report.Progress($"{Name}: rollups caught up in {catchUpSeconds:N0} s; {sizes}");

            var calls = new List<(string Name, string? Kb, string Range, Func<Task<(double Ms, string Body)>> Call)>();
            foreach (var (label, kb) in new[] { ("GET /stats", (string?)null), ($"GET /kbs/{big}/stats (24 % of rows)", big), ($"GET /kbs/{small}/stats", small) })
            {
                foreach (var range in Ranges)
                {
                    var path = kb is null ? $"/stats?since={range}" : $"/kbs/{kb}/stats?since={range}";
                    calls.Add((label, kb, range, () => GetAsync(http, path, cancellationToken)));
                }
            }

            foreach (var range in Ranges)
            {
                calls.Add(("kbsync stats --json, end to end", null, range, () => CliAsync(settings, environment, range, cancellationToken)));
            }

            var loadBefore = MachineInfo.LoadAverage();
            var samples = new List<(int Call, int Rep, double Ms)>();
            var last = new string[calls.Count];
            for (var rep = 0; rep <= options.Repetitions; rep++)
            {
                for (var c = 0; c < calls.Count; c++)
                {
                    var (ms, body) = await calls[c].Call();
                    samples.Add((c, rep, ms));
                    last[c] = body;
                }

                Report.Progress($"{Name}: {(rep == 0 ? "warm-up" : $"repetition {rep}/{options.Repetitions}")} done");
            }

            var loadAfter = MachineInfo.LoadAverage();

            report.WriteLine($"== {Name} ==");
            report.WriteLine($"{options.Rows:N0} history rows (operations-90d.sql: 300 KBs, heavy skew, 2,000 requesters, 90 days ending at the start of the run,");
            report.WriteLine($"heavy-tailed waits) generated in PostgreSQL in {generateSeconds:N0} s; the API's rollup builder caught up with the");
            report.WriteLine($"{finished:N0} finished operations in {catchUpSeconds:N0} s (from its start to sealed_until within 3 minutes of now, no change left).");
            report.WriteLine($"Sizes: {sizes}.");
            report.WriteLine($"A kbsync api process (Release) on 127.0.0.1, admin token, warm; each call timed over HTTP in this process, or the CLI");
            report.WriteLine($"process from start to exit; one warm-up, then {options.Repetitions} repetitions, calls interleaved. ms, median (max);");
            report.WriteLine($"'*' marks a median at or over the target ({ApiTargetMs:N0} ms per API call, {CliTargetMs:N0} ms for the CLI).");
            report.WriteLine();
            var table = new TextTable(["call", .. Ranges.Select(r => $"since={r}")]);
            var csv = new StringBuilder("call,range,repetition,warmup,ms\n");
            var (met, judged) = (0, 0);
            foreach (var group in calls.Select((call, index) => (call, index)).GroupBy(x => x.call.Name))
            {
                var row = new List<string> { group.Key };
                foreach (var (call, index) in group)
                {
                    var summary = Summary.Of(samples.Where(s => s.Call == index && s.Rep > 0).Select(s => s.Ms));
                    var target = call.Name.StartsWith("kbsync", StringComparison.Ordinal) ? CliTargetMs : ApiTargetMs;
                    var over = summary.Median >= target;
                    (met, judged) = (met + (over ? 0 : 1), judged + 1);
                    row.Add($"{summary.Median:N0} ({summary.Max:N0}){(over ? " *" : "  ")}");
                }

                table.Row([.. row]);
            }

            foreach (var (call, rep, ms) in samples)
            {
                csv.Append(CultureInfo.InvariantCulture, $"\"{calls[call].Name}\",{calls[call].Range},{rep},{(rep == 0).ToString().ToLowerInvariant()},{ms:0.###}\n");
            }

            report.Write(table.ToString());
            report.WriteLine();
            report.WriteLine($"Targets (issue #16): {met} of {judged} medians MET.");
            report.WriteLine($"Load average (1, 5, 15 min) before the calls: {loadBefore}; after: {loadAfter}.");
            File.WriteAllText(context.ResultPath(Name, "calls.csv"), csv.ToString());

            Report.Progress($"{Name}: checking every percentile against percentile_cont over the raw rows");
            var accuracy = new TextTable(["answer checked", "percentiles", "worst relative error", "within 1 %", "counts equal"]);
            var (allWithin, allEqual) = (true, true);
            for (var c = 0; c < calls.Count; c++)
            {
                if (calls[c].Name.StartsWith("kbsync", StringComparison.Ordinal))
                {
                    continue;
                }

                var stats = JsonSerializer.Deserialize<KbStats>(last[c], Json)!;
                var check = await CheckAsync(sandbox.ConnectionString, calls[c].Kb, stats, cancellationToken);
                allWithin &= check.Within;
                allEqual &= check.CountsEqual;
                accuracy.Row($"{calls[c].Name}, since={calls[c].Range}", check.Checked.ToString("N0", CultureInfo.InvariantCulture),
                    $"{check.WorstRelative * 100:0.000} %", check.Within ? "yes" : "NO", check.CountsEqual ? "yes" : "NO");
            }

            report.Write(accuracy.ToString());
            report.WriteLine($"Every percentile (waits p50/p95/p99/max, steps p50/p95, waits per bucket p50/p95, requesters' p50/p95) of the last answer");
            report.WriteLine($"to each API call against percentile_cont over the raw rows of the same range: {(allWithin ? "all within" : "NOT all within")} the stated");
            report.WriteLine($"relative error ({LogHistogram.RelativeError:P0}; values up to {LogHistogram.MinValueMs} ms count as 0). Sample counts and requesters' operations {(allEqual ? "all equal" : "NOT all equal")}.");
            report.WriteLine($"Raw data: {Name}-calls.csv.");
        }
        finally
        {
            if (!api.HasExited)
            {
                api.Kill(entireProcessTree: true);
                await api.WaitForExitAsync(CancellationToken.None);
            }

            NpgsqlConnection.ClearAllPools();
        }
    }

    /// <summary>Until the builder in <paramref name="api"/> has sealed up to 3 minutes ago (grace 1 minute) and applied every logged change; progress every 30 s.</summary>
    private static async Task WaitForRollupsAsync(string connectionString, Process api, CancellationToken cancellationToken)
    {
        var report = Stopwatch.StartNew();
        while (true)
        {
            var state = await ScalarAsync<string>(connectionString, """
                SELECT CASE WHEN sealed_until >= now() - interval '3 minutes' AND NOT EXISTS (SELECT 1 FROM rollup_changes) THEN 'done'
                            ELSE 'sealed to ' || sealed_until::text END
                FROM rollup_state
                """, cancellationToken);
            if (state == "done")
            {
                return;
            }

            if (api.HasExited)
            {
                throw new InvalidOperationException($"kbsync api exited ({api.ExitCode}) before its rollups caught up");
            }

            if (report.Elapsed > TimeSpan.FromSeconds(30))
            {
                Report.Progress($"stats-api: rollups {state}");
                report.Restart();
            }

            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        }
    }

    /// <summary>The SQL file with its row count and end time filled in, with the triggers and the secondary indexes off while rows go in.</summary>
    private static async Task GenerateAsync(string connectionString, int rows, DateTimeOffset end, CancellationToken cancellationToken)
    {
        var statements = await OperationsSeed.StatementsAsync("operations-90d.sql", new Dictionary<string, string>
        {
            ["rows"] = rows.ToString(CultureInfo.InvariantCulture),
            ["end"] = $"timestamptz '{end.UtcDateTime:yyyy-MM-dd HH:mm:ss.ffffff}+00'",
        }, cancellationToken);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        var indexes = await OperationsSeed.SecondaryIndexesAsync(connection, cancellationToken);

        async Task Execute(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await Execute("ALTER TABLE operations DISABLE TRIGGER USER");
        foreach (var (name, _) in indexes)
        {
            await Execute($"DROP INDEX \"{name}\"");
        }

        foreach (var statement in statements)
        {
            await Execute(statement);
        }

        foreach (var (_, definition) in indexes)
        {
            await Execute(definition);
        }

        await Execute("VACUUM ANALYZE operations");
    }

    private sealed record Check(int Checked, double WorstRelative, bool Within, bool CountsEqual);

    /// <summary>percentile_cont over the raw rows of the answer's range, in one read-only transaction without a statement timeout.</summary>
    private static async Task<Check> CheckAsync(string connectionString, string? kb, KbStats stats, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using (var settings = new NpgsqlCommand("SET work_mem = '256MB'; SET statement_timeout = 0; SET jit = off", connection))
        {
            await settings.ExecuteNonQueryAsync(cancellationToken);
        }

        var filter = kb is null ? "TRUE" : "o.kb_id = @kb";
        var (checkedCount, worst, within, equal) = (0, 0.0, true, true);
        void Compare(double? exact, double? approximate)
        {
            if (exact is null && approximate is null)
            {
                return;
            }

            checkedCount++;
            if (exact is null || approximate is null)
            {
                within = false;
                return;
            }

            var error = Math.Abs(approximate.Value - exact.Value);
            var allowed = Math.Max(LogHistogram.MinValueMs, Math.Abs(exact.Value) * LogHistogram.RelativeError * (1 + 1e-9));
            worst = Math.Max(worst, exact.Value == 0 ? 0 : error / Math.Abs(exact.Value));
            within &= error <= allowed;
        }

        NpgsqlCommand Command(string sql)
        {
            var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
            command.Parameters.AddWithValue("since", stats.Since.UtcDateTime);
            command.Parameters.AddWithValue("until", stats.Until.UtcDateTime);
            command.Parameters.AddWithValue("bucket", stats.Bucket);
            command.Parameters.AddWithValue("kb", kb ?? "");
            return command;
        }

        await using (var command = Command($"""
            SELECT count(o.queue_wait_ms), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY o.queue_wait_ms), max(o.queue_wait_ms),
                   count(o.lock_wait_ms), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY o.lock_wait_ms), max(o.lock_wait_ms),
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.pull_ms) FILTER (WHERE o.pull_ms > 0),
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.process_ms) FILTER (WHERE o.process_ms > 0),
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.commit_ms) FILTER (WHERE o.commit_ms > 0),
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.push_ms) FILTER (WHERE o.push_ms > 0)
            FROM operations o
            WHERE {filter} AND o.requested_at >= @since AND o.requested_at < @until AND o.finished_at IS NOT NULL
            """))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            equal &= reader.GetInt64(0) == stats.Waits.QueueWait.Samples && reader.GetInt64(3) == stats.Waits.LockWait.Samples;
            void Wait(int at, WaitDistribution got)
            {
                var p = reader.IsDBNull(at) ? [null, null, null] : reader.GetFieldValue<double?[]>(at);
                Compare(p[0], got.P50Ms);
                Compare(p[1], got.P95Ms);
                Compare(p[2], got.P99Ms);
                Compare(reader.IsDBNull(at + 1) ? null : reader.GetDouble(at + 1), got.MaxMs);
            }

            void Step(int at, StepDistribution got)
            {
                var p = reader.IsDBNull(at) ? [null, null] : reader.GetFieldValue<double?[]>(at);
                Compare(p[0], got.P50Ms);
                Compare(p[1], got.P95Ms);
            }

            Wait(1, stats.Waits.QueueWait);
            Wait(4, stats.Waits.LockWait);
            Step(6, stats.Steps.Pull);
            Step(7, stats.Steps.Process);
            Step(8, stats.Steps.Commit);
            Step(9, stats.Steps.Push);
        }

        var buckets = stats.WaitsOverTime.ToDictionary(b => b.Start.UtcDateTime);
        var seen = 0;
        await using (var command = Command($"""
            SELECT date_bin(@bucket, o.requested_at, @since), count(o.queue_wait_ms), count(o.lock_wait_ms),
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.queue_wait_ms),
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.lock_wait_ms)
            FROM operations o
            WHERE {filter} AND o.requested_at >= @since AND o.requested_at < @until AND o.finished_at IS NOT NULL
            GROUP BY 1
            """))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var got = buckets[reader.GetFieldValue<DateTime>(0)];
                seen++;
                equal &= reader.GetInt64(1) == got.QueueWaitSamples && reader.GetInt64(2) == got.LockWaitSamples;
                var queue = reader.IsDBNull(3) ? [null, null] : reader.GetFieldValue<double?[]>(3);
                var locks = reader.IsDBNull(4) ? [null, null] : reader.GetFieldValue<double?[]>(4);
                Compare(queue[0], got.QueueWaitP50Ms);
                Compare(queue[1], got.QueueWaitP95Ms);
                Compare(locks[0], got.LockWaitP50Ms);
                Compare(locks[1], got.LockWaitP95Ms);
            }
        }

        equal &= seen == stats.WaitsOverTime.Count(b => b.QueueWaitSamples > 0 || b.LockWaitSamples > 0);

        var requesters = stats.Requesters.ToDictionary(r => r.RequestedBy);
        await using (var command = Command($"""
            SELECT o.requested_by, count(*),
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.queue_wait_ms) FILTER (WHERE o.finished_at IS NOT NULL),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY o.lock_wait_ms) FILTER (WHERE o.finished_at IS NOT NULL)
            FROM operations o
            WHERE {filter} AND o.requested_at >= @since AND o.requested_at < @until AND o.requested_by = ANY(@names)
            GROUP BY 1
            """))
        {
            command.Parameters.AddWithValue("names", requesters.Keys.ToArray());
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var got = requesters[reader.GetString(0)];
                equal &= reader.GetInt64(1) == got.Operations;
                var queue = reader.IsDBNull(2) ? [null, null] : reader.GetFieldValue<double?[]>(2);
                Compare(queue[0], got.QueueWaitP50Ms);
                Compare(queue[1], got.QueueWaitP95Ms);
                Compare(reader.IsDBNull(3) ? null : reader.GetDouble(3), got.LockWaitP50Ms);
            }
        }

        return new Check(checkedCount, worst, within, equal);
    }

    private static async Task<(double Ms, string Body)> GetAsync(HttpClient http, string path, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var response = await http.GetAsync(path, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var ms = clock.Elapsed.TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode} {body}");
        }

        return (ms, body);
    }

    private static async Task<(double Ms, string Body)> CliAsync(BenchSettings settings, Dictionary<string, string> environment, string range, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var output = await ProcessRunner.CheckedAsync("dotnet", [settings.CliDll, "stats", "--since", range, "--json"], environment, cancellationToken: cancellationToken);
        return (clock.Elapsed.TotalMilliseconds, output);
    }

    private static Process StartApi(BenchSettings settings, Dictionary<string, string> environment, int port, int metricsPort, string logPath)
    {
        var info = new ProcessStartInfo("dotnet", [settings.CliDll, "api", "--urls", $"http://127.0.0.1:{port}", "--metrics-urls", $"http://127.0.0.1:{metricsPort}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start kbsync api.");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { lock (log) { log.WriteLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.WriteLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitForApiAsync(HttpClient http, Process api, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline && !api.HasExited)
        {
            try
            {
                using var response = await http.GetAsync("/health", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(250, cancellationToken);
        }

        throw new InvalidOperationException("kbsync api did not answer /health within 90 s (see its log in the run folder).");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> SizesAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT format('operations %s MB + indexes %s MB; operation_rollups %s rows, %s MB; requester_rollups %s rows, %s MB; requester_waits %s rows, %s MB',
                pg_table_size('operations') / 1048576, pg_indexes_size('operations') / 1048576,
                (SELECT count(*) FROM operation_rollups), pg_total_relation_size('operation_rollups') / 1048576,
                (SELECT count(*) FROM requester_rollups), pg_total_relation_size('requester_rollups') / 1048576,
                (SELECT count(*) FROM requester_waits), pg_total_relation_size('requester_waits') / 1048576)
            """, connection);
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

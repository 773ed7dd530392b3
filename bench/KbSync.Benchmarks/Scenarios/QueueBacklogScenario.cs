using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;
using KbSync.Contracts;
using KbSync.Persistence.History;
using KbSync.Persistence.Identity;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #16 item 3: queue positions with a backlog and no worker. A worker declares the queues and
/// stops; a <c>kbsync api</c> process runs alone (it reads the queue tap); 100,000 notes are published
/// to one KB (<c>--quick</c>: 10,000); once the tap has recorded them all, each read is timed
/// <c>--repetitions</c> times, warm: <c>GET /queues</c>, <c>GET /operations/{last}</c>, the position
/// query alone in this process, <c>kbsync status &lt;last&gt;</c> end to end (a CLI process), and
/// <c>POST /kbs/{kb}/notes</c> (publish, wait for the tap, count the 100,000 ahead).
/// </summary>
public sealed class QueueBacklogScenario : IScenario
{
    private const string Kb = "backlog-kb";

    public string Name => "queue-backlog";

    public string Description => "issue #16: GET /queues, GET /operations/{id}, kbsync status and POST with 100,000 requests queued and no worker";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var backlog = options.Quick ? 10_000 : 100_000;
        await using var sandbox = await BenchSandbox.CreateAsync(context.Settings, Name, context.RunFolder, options.Keep, cancellationToken);
        await sandbox.RegisterKbsAsync([], cancellationToken); // migrates the database
        var contexts = new ContextFactory(sandbox.ConnectionString);
        var identities = new IdentityStore(contexts);
        var token = (await identities.CreateTokenAsync(BenchSandbox.Publisher, "bench", cancellationToken)).Token;
        var unlimited = new Dictionary<string, string> { ["RabbitMq__MaxQueueLength"] = "0" }; // the POSTs come on top of the backlog
        await using (await sandbox.StartWorkerAsync("declares", cancellationToken, unlimited))
        {
            // declares every partition queue and the queue tap, then stops: nothing consumes the partitions
        }

        await using var api = await ApiProcess.StartAsync(CliEnvironment(context.Settings, sandbox), token, context.Settings.CliDll,
            Path.Combine(sandbox.LogFolder, $"{sandbox.Name}-api.log"), startTimeout: TimeSpan.FromMinutes(2), requestTimeout: TimeSpan.FromMinutes(2), cancellationToken: cancellationToken);
        var client = await sandbox.StartClientAsync(cancellationToken);
        Report.Progress($"{Name}: publishing {backlog:N0} notes to {Kb}");
        var publish = Stopwatch.StartNew();
        var ids = new Guid[backlog];
        await Parallel.ForEachAsync(Enumerable.Range(0, backlog), new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = cancellationToken }, async (i, ct) =>
            ids[i] = await client.SubmitNoteAsync(Kb, "kbsync-bench", new NoteContent($"backlog note {i}"), cancellationToken: ct));
        var publishSeconds = publish.Elapsed.TotalSeconds;

        var recorded = Stopwatch.StartNew();
        long queued;
        while ((queued = await QueuedCountAsync(contexts, cancellationToken)) < backlog)
        {
            await Task.Delay(500, cancellationToken);
        }

        var lastSeconds = recorded.Elapsed.TotalSeconds;
        var last = await LastQueuedAsync(contexts, cancellationToken);
        var history = new OperationHistory(contexts);
        var timings = new List<(string Call, string Answer, List<double> Ms)>();

        async Task Time(string call, Func<Task<string>> run)
        {
            var answer = await run(); // warm-up
            var samples = new List<double>();
            for (var r = 0; r < options.Repetitions; r++)
            {
                var watch = Stopwatch.StartNew();
                answer = await run();
                samples.Add(watch.Elapsed.TotalMilliseconds);
            }

            timings.Add((call, answer, samples));
            Report.Progress($"{Name}: {call}: {Summary.Of(samples).Median:N1} ms ({answer})");
        }

        await Time("GET /queues", async () =>
        {
            var queues = await api.Http.GetFromJsonAsync<JsonElement>("/queues", cancellationToken);
            return $"{Kb}: queued {queues.EnumerateArray().Single(q => q.GetProperty("kbId").GetString() == Kb).GetProperty("queued").GetInt32():N0}";
        });
        await Time("GET /operations/{last}", async () =>
        {
            var view = await api.Http.GetFromJsonAsync<JsonElement>($"/operations/{last.Id}", cancellationToken);
            return $"queuePosition {view.GetProperty("queuePosition").GetInt32():N0}";
        });
        await Time("OperationHistory.QueuePositionAsync (in process)", async () =>
            $"position {await history.QueuePositionAsync(last, Topology.DefaultPartitionCount, cancellationToken):N0}");
        await Time("kbsync status <last>, end to end", async () =>
        {
            var status = await ProcessRunner.CheckedAsync("dotnet", [context.Settings.CliDll, "status", last.Id.ToString()], CliEnvironment(context.Settings, sandbox), cancellationToken: cancellationToken);
            return status.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Contains("in queue", StringComparison.Ordinal)) ?? "?";
        });
        await Time("POST /kbs/{kb}/notes", async () =>
        {
            var posted = await api.Http.PostAsJsonAsync($"/kbs/{Kb}/notes", new { requestedBy = "kbsync-bench", text = $"one more {Guid.NewGuid()}" }, cancellationToken);
            var body = await posted.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
            return $"{(int)posted.StatusCode}, queuePosition {body.GetProperty("queuePosition")}";
        });

        var report = context.Report;
        report.WriteLine($"== {Name} ==");
        report.WriteLine($"{backlog:N0} notes published to one KB ({Kb}) with no worker running; one kbsync api process reads the queue tap. Published in");
        report.WriteLine($"{publishSeconds:N1} s (64 at a time); all {queued:N0} recorded as queued {lastSeconds:N1} s after the last publish was confirmed.");
        report.WriteLine($"Then each call {options.Repetitions} times after one warm-up, ms:");
        report.WriteLine();
        var table = new TextTable("call", "median", "p95", "min", "max", "answer");
        var csv = new StringBuilder("call,repetition,ms\n");
        foreach (var (call, answer, samples) in timings)
        {
            var s = Summary.Of(samples);
            table.Row(call, s.Median.ToString("N1", CultureInfo.InvariantCulture), s.P95.ToString("N1", CultureInfo.InvariantCulture),
                s.Min.ToString("N1", CultureInfo.InvariantCulture), s.Max.ToString("N1", CultureInfo.InvariantCulture), answer);
            for (var r = 0; r < samples.Count; r++)
            {
                csv.Append(CultureInfo.InvariantCulture, $"\"{call}\",{r + 1},{samples[r]:0.###}\n");
            }
        }

        report.Write(table.ToString());
        File.WriteAllText(context.ResultPath(Name, "calls.csv"), csv.ToString());
        report.WriteLine($"Load average (1, 5, 15 min) after: {MachineInfo.LoadAverage()}.");
        report.WriteLine($"Raw data: {Name}-calls.csv.");
    }

    private static async Task<long> QueuedCountAsync(ContextFactory contexts, CancellationToken cancellationToken)
    {
        await using var db = contexts.CreateDbContext();
        return await db.Operations.LongCountAsync(o => o.Status == OperationStatus.Queued, cancellationToken);
    }

    private static async Task<Persistence.Entities.OperationRecord> LastQueuedAsync(ContextFactory contexts, CancellationToken cancellationToken)
    {
        await using var db = contexts.CreateDbContext();
        return await db.Operations.AsNoTracking().Where(o => o.Status == OperationStatus.Queued).OrderByDescending(o => o.QueueSeq).FirstAsync(cancellationToken);
    }

    private static Dictionary<string, string> CliEnvironment(BenchSettings settings, BenchSandbox sandbox)
    {
        var environment = sandbox.Environment();
        environment["DOTNET_CONTENTROOT"] = Path.GetDirectoryName(settings.CliDll)!;
        return environment;
    }
}

using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #6: many KBs. <see cref="BenchOptions.ManyKbs"/> KBs (100 files each) get
/// <see cref="BenchOptions.ManyNotes"/> notes each, published round-robin as fast as possible, with
/// 1, 2 and 4 worker processes (all started before the first publish; a fresh virtual host, database
/// and remotes for each count) and, on the same notes, the git-CLI baseline. Local remote and +latency.
/// Throughput from the first measured publish to the last push; which worker ran how many operations
/// (history's worker_id) shows how the workers shared the 16 partitions.
/// </summary>
public sealed class ManyKbsScenario : IScenario
{
    /// <summary>With added latency, 4 workers at least this many times 1 worker's notes/s.</summary>
    public const double ScaleTarget = 3;
    private const int KbFiles = 100;
    private static readonly int[] WorkerCounts = [1, 2, 4];

    public string Name => "many-kbs";

    public string Description => "issue #6: K KBs x N notes with 1, 2, 4 worker processes vs git-CLI writers; local and +latency; target 4 workers >= 3x 1 worker (+latency)";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var results = new List<Result>();
        var csv = new StringBuilder("condition,system,kb_id,sequence,operation_id,status,worker,published_ms,finished_ms,end_to_end_ms,queue_wait_ms,lock_wait_ms,pull_ms,process_ms,commit_ms,push_ms\n");
        var loadBefore = MachineInfo.LoadAverage();
        var c = 0;
        foreach (var condition in RemoteCondition.Both(options.LatencyMs))
        {
            c++;
            foreach (var workers in WorkerCounts)
            {
                results.Add(await RunKbSyncAsync(context, condition, c, workers, csv, cancellationToken));
            }

            results.Add(await RunBaselineAsync(context, condition, c, csv, cancellationToken));
        }

        File.WriteAllText(context.ResultPath(Name, "notes.csv"), csv.ToString());
        Print(context, results, loadBefore);
    }

    private static List<BenchNote> Notes(string prefix, int kbs, int perKb, int seed, string runId, int firstSequence = 1)
    {
        var texts = Enumerable.Range(0, kbs).Select(k => new NoteText(seed * 1000 + k)).ToList();
        var notes = new List<BenchNote>();
        for (var i = 0; i < perKb; i++)
        {
            for (var k = 0; k < kbs; k++)
            {
                notes.Add(BenchNote.Make($"{prefix}-{k:00}", firstSequence + i, texts[k], runId));
            }
        }

        return notes;
    }

    private async Task<Result> RunKbSyncAsync(BenchContext context, RemoteCondition condition, int c, int workerCount, StringBuilder csv, CancellationToken cancellationToken)
    {
        var options = context.Options;
        await using var sandbox = await BenchSandbox.CreateAsync(context.Settings, $"{Name}-{workerCount}w", context.RunFolder, options.Keep, cancellationToken);
        await using var remotes = new RemoteHost(Path.Combine(sandbox.Folder, "remotes"), condition);
        var kbs = new List<(string, string)>();
        for (var k = 0; k < options.ManyKbs; k++)
        {
            var id = $"many-{k:00}";
            var (url, _) = await remotes.CreateAsync(id, KbFiles, seed: 1000 * c + k, IndexLayout.Monthly, cancellationToken);
            kbs.Add((id, url));
        }

        await sandbox.RegisterKbsAsync(kbs, cancellationToken);
        var started = (await Task.WhenAll(Enumerable.Range(1, workerCount).Select(w => sandbox.StartWorkerAsync($"w{w}", cancellationToken)))).ToList();
        await BenchSandbox.WaitUntilPartitionsSharedAsync(started, Partitions, cancellationToken);
        var client = await sandbox.StartClientAsync(cancellationToken);

        // warm-up: one note per KB (the clones), not counted
        var warm = Notes("many", options.ManyKbs, 1, seed: 7 + c, context.RunId, firstSequence: 0);
        foreach (var note in warm)
        {
            await client.SubmitNoteAsync(note.KbId, "kbsync-bench", note.Content, note.OperationId, cancellationToken);
        }

        await sandbox.WaitForAllFinalAsync([.. warm.Select(n => n.OperationId)], TimeSpan.FromMinutes(10), cancellationToken);
        var notes = Notes("many", options.ManyKbs, options.ManyNotes, seed: 11 + c, context.RunId);
        Report.Progress($"{Name} [{condition.Name}, {workerCount} worker(s)]: publishing {notes.Count} notes");
        var meter = CpuMeter.Start(started.Select(w => w.ProcessId));
        foreach (var note in notes)
        {
            await client.SubmitNoteAsync(note.KbId, "kbsync-bench", note.Content, note.OperationId, cancellationToken);
        }

        var ids = notes.Select(n => n.OperationId).ToList();
        var rows = await sandbox.WaitForAllFinalAsync(ids, TimeSpan.FromMinutes(20), cancellationToken);
        var cpu = meter.Stop();
        var spread = await sandbox.WorkerSpreadAsync(ids, cancellationToken);
        var warmSpread = await sandbox.WorkerSpreadAsync([.. warm.Select(n => n.OperationId)], cancellationToken);
        var first = rows.Min(r => r.RequestedAt);
        var last = rows.Max(r => r.FinishedAt ?? r.RequestedAt);
        foreach (var note in notes)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{condition.Name},kbsync-{workerCount}w,{note.KbId},{note.Sequence},{note.OperationId},");
            var row = rows.First(r => r.Id == note.OperationId);
            double Ms(DateTime? t) => t is { } v ? (v - first).TotalMilliseconds : double.NaN;
            csv.Append(CultureInfo.InvariantCulture,
                $"{row.Status},,{Ms(row.RequestedAt):0.#},{Ms(row.FinishedAt):0.#},{row.EndToEndMs:0.#},{row.QueueWaitMs:0.#},{row.LockWaitMs:0.#},{row.PullMs:0.#},{row.ProcessMs:0.#},{row.CommitMs:0.#},{row.PushMs:0.#}\n");
        }

        var ordered = 0;
        foreach (var kb in kbs)
        {
            var check = await RemoteCheck.OfAsync(remotes.PathOf(kb.Item1), [.. notes.Where(n => n.KbId == kb.Item1).Select(n => n.OperationId)], cancellationToken);
            ordered += check.EachOwnCommit && check.OrderKept ? 1 : 0;
        }

        var peak = started.Select(w => w.Memory()?.PeakMiB ?? double.NaN).ToList();
        var result = new Result(condition.Name, $"KbSync, {workerCount} worker{(workerCount > 1 ? "s" : "")}", workerCount, notes.Count, rows.Count(r => !r.Succeeded),
            (last - first).TotalSeconds, [.. rows.Where(r => r.Succeeded).Select(r => r.EndToEndMs ?? double.NaN)],
            string.Join(", ", spread.Select(s => $"{s.WorkerId}: {s.Operations} ops/{s.Kbs} KBs")) + $" (warm-up: {string.Join(", ", warmSpread.Select(s => $"{s.WorkerId} {s.Kbs} KBs"))})",
            $"{ordered}/{kbs.Count} KBs", $"{peak.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Max():N0} MiB", cpu,
            Groups: rows.Select(r => (r.KbId, r.StartedAt)).Distinct().Count()); // a run's requests share started_at: one group per KB and run
        Report.Progress($"{Name} [{condition.Name}, {workerCount} worker(s)]: {result.NotesPerSecond:N1} notes/s, CPU {cpu.MachineBusyPercent:N0} % busy; {result.Spread}");
        return result;
    }

    private const int Partitions = KbSync.Contracts.Topology.DefaultPartitionCount;

    private async Task<Result> RunBaselineAsync(BenchContext context, RemoteCondition condition, int c, StringBuilder csv, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var folder = Path.Combine(context.RunFolder, "tmp", $"{Name}-baseline-{c}");
        try
        {
            await using var remotes = new RemoteHost(Path.Combine(folder, "remotes"), condition);
            var urls = new Dictionary<string, string>();
            for (var k = 0; k < options.ManyKbs; k++)
            {
                var id = $"many-{k:00}";
                urls[id] = (await remotes.CreateAsync(id, KbFiles, seed: 1000 * c + k, IndexLayout.Single, cancellationToken)).Url;
            }

            var writers = new GitCliWriters(Path.Combine(folder, "writers"), options.BaselineWriters, urls);
            await writers.PrepareAsync(cancellationToken);
            var notes = Notes("many", options.ManyKbs, Math.Min(options.ManyNotes, options.BaselineManyNotes), seed: 11 + c, context.RunId);
            Report.Progress($"{Name} [{condition.Name}, baseline]: {notes.Count} notes, {options.BaselineWriters} writers");
            var meter = CpuMeter.Start([]);
            var samples = await writers.RunAsync(notes, cancellationToken);
            var cpu = meter.Stop();
            foreach (var s in samples)
            {
                csv.Append(CultureInfo.InvariantCulture,
                    $"{condition.Name},baseline,{s.Note.KbId},{s.Note.Sequence},{s.Note.OperationId},{(s.Succeeded ? "succeeded" : "failed")},w{s.Writer},{s.PublishedMs:0.#},{s.FinishedMs:0.#},{s.EndToEndMs:0.#},,,,,,\n");
            }

            var ordered = 0;
            foreach (var kb in urls.Keys)
            {
                var check = await RemoteCheck.OfAsync(remotes.PathOf(kb), [.. notes.Where(n => n.KbId == kb).Select(n => n.OperationId)], cancellationToken);
                ordered += check.EachOwnCommit && check.OrderKept ? 1 : 0;
            }

            var result = new Result(condition.Name, $"baseline, {options.BaselineWriters} git-CLI writers", 0, samples.Count, samples.Count(s => !s.Succeeded),
                samples.Max(s => s.FinishedMs) / 1000, [.. samples.Where(s => s.Succeeded).Select(s => s.EndToEndMs)], $"{options.BaselineWriters} writers, any KB each", $"{ordered}/{urls.Count} KBs", "-", cpu, Groups: samples.Count);
            Report.Progress($"{Name} [{condition.Name}, baseline]: {result.NotesPerSecond:N1} notes/s");
            return result;
        }
        finally
        {
            if (!options.Keep && Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private void Print(BenchContext context, List<Result> results, string loadBefore)
    {
        var options = context.Options;
        var report = context.Report;
        report.WriteLine($"== {Name} ==");
        report.WriteLine($"{options.ManyKbs} KBs ({KbFiles} files each) x {options.ManyNotes} notes, published round-robin as fast as possible after one warm-up note per KB.");
        report.WriteLine("KbSync: 1, 2 and 4 kbworker processes, all started at once before the first publish, each count in a fresh virtual host,");
        report.WriteLine($"database and set of remotes. Baseline: the first {Math.Min(options.ManyNotes, options.BaselineManyNotes)} of each KB's notes (the same notes, round-robin) queued at once");
        report.WriteLine($"for {options.BaselineWriters} git-CLI writers (one clone of every KB");
        report.WriteLine($"each, a flock per KB). 'local' = remotes by path; '+{options.LatencyMs} ms' = over smart HTTP, every request answered {options.LatencyMs} ms late.");
        report.WriteLine("notes/s = notes / (last push - first publish). 'vs baseline' = notes/s over the baseline's in the same remote condition.");
        report.WriteLine();
        var table = new TextTable("remote", "system", "notes", "failed", "seconds", "notes/s", "vs baseline", "vs 1 worker", "e2e p50", "e2e p95", "order kept", "peak RSS/worker", "groups", "CPU busy", "CPU s: workers", "git children", "operations per worker (history)");
        var csv = new StringBuilder("condition,system,workers,notes,failed,seconds,notes_per_second,ratio_to_baseline,ratio_to_one_worker,e2e_p50_ms,e2e_p95_ms,order_kept,groups,cpu_busy_percent,cpu_s_workers,cpu_s_git_children,spread\n");
        foreach (var group in results.GroupBy(r => r.Condition))
        {
            var baseline = group.Single(r => r.Workers == 0);
            var one = group.Single(r => r.Workers == 1);
            foreach (var r in group)
            {
                var vsOne = r.Workers > 0 ? Fmt.Ratio(r.NotesPerSecond, one.NotesPerSecond) : "";
                table.Row(r.Condition, r.System, r.Notes.ToString(CultureInfo.InvariantCulture), r.Failed.ToString(CultureInfo.InvariantCulture), r.Seconds.ToString("N1", CultureInfo.InvariantCulture),
                    Fmt.Rate(r.NotesPerSecond), r.Workers > 0 ? Fmt.Ratio(r.NotesPerSecond, baseline.NotesPerSecond) : "1.0x", vsOne, Fmt.Ms(r.P(0.5)), Fmt.Ms(r.P(0.95)), r.Order, r.PeakRss, r.Groups.ToString(CultureInfo.InvariantCulture),
                    $"{r.Cpu.MachineBusyPercent:N0} %", r.Workers > 0 ? r.Cpu.ProcessSeconds.ToString("N1", CultureInfo.InvariantCulture) : "-", r.Cpu.ChildSeconds.ToString("N1", CultureInfo.InvariantCulture), r.Spread);
                csv.Append(CultureInfo.InvariantCulture,
                    $"{r.Condition},\"{r.System}\",{r.Workers},{r.Notes},{r.Failed},{r.Seconds:0.###},{r.NotesPerSecond:0.###},{r.NotesPerSecond / baseline.NotesPerSecond:0.###},{(r.Workers > 0 ? (r.NotesPerSecond / one.NotesPerSecond).ToString("0.###", CultureInfo.InvariantCulture) : "")},{r.P(0.5):0.#},{r.P(0.95):0.#},\"{r.Order}\",{r.Groups},{r.Cpu.MachineBusyPercent:0.#},{r.Cpu.ProcessSeconds:0.##},{r.Cpu.ChildSeconds:0.##},\"{r.Spread}\"\n");
                context.Chart.Add("many KBs: notes/s", r.Condition, r.Workers > 0 ? $"{r.Workers} worker{(r.Workers > 1 ? "s" : "")}" : "baseline", r.NotesPerSecond);
            }

            table.Rule();
        }

        report.Write(table.ToString());
        File.WriteAllText(context.ResultPath(Name, "summary.csv"), csv.ToString());
        report.WriteLine();
        foreach (var group in results.GroupBy(r => r.Condition))
        {
            var one = group.Single(r => r.Workers == 1);
            var four = group.SingleOrDefault(r => r.Workers == 4);
            if (four is null)
            {
                continue;
            }

            var ratio = four.NotesPerSecond / one.NotesPerSecond;
            var judged = group.Key != "local";
            report.WriteLine($"{(judged ? "Target (issue #6)" : "For comparison (not judged)")}: 4 workers >= {ScaleTarget:0}x 1 worker's notes/s [{group.Key}]: {ratio:N2}x" +
                             (judged ? $" -> {(ratio >= ScaleTarget ? "MET" : $"MISSED (by {ScaleTarget / ratio:N1}x)")}" : "") + ".");
        }

        report.WriteLine("groups: KbSync's group commits (the requests of one KB in one run, by history's started_at), each pushed once unless");
        report.WriteLine("the push is refused and replayed; the baseline's groups are its notes (one pull and one push each).");
        report.WriteLine("Partition spread: a worker's share of the operations (history's worker_id) follows the partitions it owned (16 queues,");
        report.WriteLine("shared out by the workers). CPU, over the window from first publish to last result: 'busy' = share of both cores' time");
        report.WriteLine("used by anything; 'workers' = the kbworker processes' CPU seconds; 'git children' = CPU seconds of the git processes the");
        report.WriteLine("benchmark ran (the +latency remotes' git http-backend, and the baseline's git CLI writers); RabbitMQ, PostgreSQL and the");
        report.WriteLine("publisher make up the rest of 'busy'.");
        report.WriteLine($"Load average (1, 5, 15 min) before: {loadBefore}; after: {MachineInfo.LoadAverage()}.");
        report.WriteLine($"Raw data: {Name}-notes.csv (every note), {Name}-summary.csv.");
    }

    /// <param name="Groups">KbSync's group commits (one push each unless replayed); for the baseline, its notes.</param>
    private sealed record Result(string Condition, string System, int Workers, int Notes, int Failed, double Seconds, double[] EndToEnd, string Spread, string Order, string PeakRss, CpuUse Cpu, int Groups)
    {
        public double NotesPerSecond => (Notes - Failed) / Seconds;

        public double P(double q) => Percentile.Of(EndToEnd, q);
    }
}

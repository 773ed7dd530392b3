using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #6: KbSync's own cost per operation, outside the git work. One worker, one KB of 100 files,
/// notes one at a time (publish, wait for the final history row, next), local remote and +latency.
/// From each history row: overhead = (finished_at - started_at) - (pull + process + commit + push),
/// which holds the history writes, the lock (lock_wait_ms, also shown alone) and opening the clone.
/// The baseline's wall time per note, one writer, one note at a time, is shown beside KbSync's end to end.
/// </summary>
public sealed class OverheadScenario : IScenario
{
    public const double TargetMs = 5;
    private const int KbFiles = 100;

    public string Name => "overhead";

    public string Description => "issue #6: per-operation time outside git work (run - git work, lock wait) one note at a time; local and +latency; target p50 <= 5 ms";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        await using var sandbox = await BenchSandbox.CreateAsync(context.Settings, Name, context.RunFolder, options.Keep, cancellationToken);
        var worker = await sandbox.StartWorkerAsync("bench", cancellationToken);
        var client = await sandbox.StartClientAsync(cancellationToken);
        var csv = new StringBuilder("condition,system,sequence,operation_id,status,run_ms,git_ms,overhead_ms,lock_wait_ms,queue_wait_ms,end_to_end_ms,baseline_wall_ms\n");
        var rows = new List<(string Condition, List<OperationRow> Rows, List<CliSample> Baseline)>();
        var loadBefore = MachineInfo.LoadAverage();
        var c = 0;
        foreach (var condition in RemoteCondition.Both(options.LatencyMs))
        {
            c++;
            await using var remotes = new RemoteHost(Path.Combine(sandbox.Folder, $"remotes-{c}"), condition);
            var kbId = $"overhead-{c}";
            var (url, _) = await remotes.CreateAsync(kbId, KbFiles, seed: 500 + c, IndexLayout.Monthly, cancellationToken);
            var (baselineUrl, _) = await remotes.CreateAsync($"baseline-{c}", KbFiles, seed: 500 + c, IndexLayout.Single, cancellationToken);
            await sandbox.RegisterKbsAsync([(kbId, url)], cancellationToken);
            var text = new NoteText(seed: 77 + c);
            var measured = new List<OperationRow>();
            var notes = new List<BenchNote>();
            for (var i = 1 - options.Warmup; i <= options.Notes; i++)
            {
                var note = BenchNote.Make(kbId, i + options.Warmup, text, context.RunId);
                await client.SubmitNoteAsync(kbId, "kbsync-bench", note.Content, note.OperationId, cancellationToken);
                var row = await sandbox.WaitForFinalAsync(note.OperationId, TimeSpan.FromMinutes(3), TimeSpan.FromMilliseconds(5), cancellationToken);
                if (i >= 1)
                {
                    measured.Add(row);
                    notes.Add(note);
                }
            }

            // the baseline, one writer, the same notes one at a time (its clone made first)
            var writers = new GitCliWriters(Path.Combine(sandbox.Folder, $"writers-{c}"), 1, new Dictionary<string, string> { [$"baseline-{c}"] = baselineUrl });
            await writers.PrepareAsync(cancellationToken);
            var baseline = new List<CliSample>();
            foreach (var note in notes)
            {
                baseline.AddRange(await writers.RunAsync([note with { KbId = $"baseline-{c}" }], cancellationToken));
            }

            rows.Add((condition.Name, measured, baseline));
            foreach (var (row, b) in measured.Zip(baseline))
            {
                csv.Append(CultureInfo.InvariantCulture,
                    $"{condition.Name},kbsync,{rows[^1].Rows.IndexOf(row) + 1},{row.Id},{row.Status},{row.RunMs:0.###},{row.GitMs:0.###},{row.RunMs - row.GitMs:0.###},{row.LockWaitMs:0.###},{row.QueueWaitMs:0.###},{row.EndToEndMs:0.###},{b.FinishedMs - b.StartedMs:0.###}\n");
            }

            Report.Progress($"{Name} [{condition.Name}]: {measured.Count} notes");
        }

        File.WriteAllText(context.ResultPath(Name, "notes.csv"), csv.ToString());
        var report = context.Report;
        report.WriteLine($"== {Name} ==");
        report.WriteLine($"One kbworker, one KB of {KbFiles} files, {options.Notes} notes one at a time after {options.Warmup} warm-up(s) (publish, wait for the final");
        report.WriteLine("history row, next). overhead = (finished_at - started_at) - (pull + process + commit + push): history writes, the KB lock");
        report.WriteLine("(lock wait, also alone), opening the clone. Baseline: one git-CLI writer, the same notes one at a time (its wall time per note:");
        report.WriteLine("flock + sh + git pull/add/commit/push processes). ms, median (p95).");
        report.WriteLine();
        var table = new TextTable("remote", "overhead (run - git)", "lock wait", "overhead - lock wait", "git work", "KbSync end to end", "baseline wall/note", "KbSync e2e / baseline");
        var summaryCsv = new StringBuilder("condition,metric,count,median_ms,p95_ms,min_ms,max_ms\n");
        foreach (var (condition, measured, baseline) in rows)
        {
            var ok = measured.Where(r => r.Succeeded).ToList();
            var metrics = new (string Name, Summary Value)[]
            {
                ("overhead", Summary.Of(ok.Select(r => (r.RunMs ?? double.NaN) - r.GitMs))),
                ("lock_wait", Summary.Of(ok.Select(r => r.LockWaitMs ?? 0))),
                ("overhead_minus_lock", Summary.Of(ok.Select(r => (r.RunMs ?? double.NaN) - r.GitMs - (r.LockWaitMs ?? 0)))),
                ("git_work", Summary.Of(ok.Select(r => r.GitMs))),
                ("end_to_end", Summary.Of(ok.Select(r => r.EndToEndMs ?? double.NaN))),
                ("baseline_wall", Summary.Of(baseline.Where(b => b.Succeeded).Select(b => b.FinishedMs - b.StartedMs))),
            };
            string Cell(Summary s) => $"{s.Median:N1} ({s.P95:N1})";
            table.Row(condition, Cell(metrics[0].Value), Cell(metrics[1].Value), Cell(metrics[2].Value), Cell(metrics[3].Value), Cell(metrics[4].Value), Cell(metrics[5].Value),
                Fmt.Ratio(metrics[4].Value.Median, metrics[5].Value.Median));
            foreach (var (name, s) in metrics)
            {
                summaryCsv.Append(CultureInfo.InvariantCulture, $"{condition},{name},{s.Count},{s.Median:0.###},{s.P95:0.###},{s.Min:0.###},{s.Max:0.###}\n");
            }
        }

        report.Write(table.ToString());
        File.WriteAllText(context.ResultPath(Name, "summary.csv"), summaryCsv.ToString());
        report.WriteLine();
        foreach (var (condition, measured, _) in rows)
        {
            var p50 = Summary.Of(measured.Where(r => r.Succeeded).Select(r => (r.RunMs ?? double.NaN) - r.GitMs)).Median;
            report.WriteLine($"Target (issue #6): overhead p50 <= {TargetMs:0} ms [{condition}]: {p50:N1} ms -> {(p50 <= TargetMs ? "MET" : $"MISSED by {p50 - TargetMs:N1} ms")}.");
        }

        if (worker.Memory() is { } memory)
        {
            report.WriteLine($"Worker peak RSS (VmHWM): {memory.PeakMiB:N0} MiB.");
        }

        report.WriteLine($"Load average (1, 5, 15 min) before: {loadBefore}; after: {MachineInfo.LoadAverage()}.");
        report.WriteLine($"Raw data: {Name}-notes.csv, {Name}-summary.csv.");
    }
}

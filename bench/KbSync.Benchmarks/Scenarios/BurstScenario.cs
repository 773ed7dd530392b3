using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #6: a burst at one KB. <see cref="BenchOptions.BurstNotes"/> notes published as fast as
/// possible (the .NET client, one after the other, each confirmed by the broker) to one KB of 100
/// files, one worker with group commit on (<c>KbWorker__MaxBatchSize</c> default); the same notes
/// written by the baseline (<see cref="GitCliWriters"/>, all queued at once) to a remote seeded the
/// same way. Both on a local remote and over HTTP with added latency, side by side in one run.
/// Throughput from the first publish to the last push; end-to-end latency per note; the remote's
/// history checked: one commit per note (trailers) and publish order kept.
/// </summary>
public sealed class BurstScenario : IScenario
{
    public const double Target = 20;
    private const int KbFiles = 100;

    public string Name => "burst";

    public string Description => "issue #6: N notes at one KB as fast as possible, KbSync (1 worker, group commit) vs git-CLI writers; local and +latency; target >= 20x notes/s";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        await using var sandbox = await BenchSandbox.CreateAsync(context.Settings, Name, context.RunFolder, options.Keep, cancellationToken);
        Report.Progress($"{Name}: virtual host {sandbox.Name}, database {sandbox.DatabaseName}");
        var worker = await sandbox.StartWorkerAsync("bench", cancellationToken);
        var client = await sandbox.StartClientAsync(cancellationToken);

        var results = new List<Result>();
        var csv = new StringBuilder("condition,system,sequence,operation_id,status,worker_or_writer,published_ms,started_ms,finished_ms,end_to_end_ms,queue_wait_ms,lock_wait_ms,pull_ms,process_ms,commit_ms,push_ms,error\n");
        var loadBefore = MachineInfo.LoadAverage();
        var c = 0;
        foreach (var condition in RemoteCondition.Both(options.LatencyMs))
        {
            c++;
            await using var remotes = new RemoteHost(Path.Combine(sandbox.Folder, $"remotes-{c}"), condition);
            var kbId = $"burst-{c}";
            var (url, _) = await remotes.CreateAsync(kbId, KbFiles, seed: 100 + c, IndexLayout.Monthly, cancellationToken);
            var (baselineUrl, _) = await remotes.CreateAsync($"baseline-{c}", KbFiles, seed: 100 + c, IndexLayout.Single, cancellationToken);
            await sandbox.RegisterKbsAsync([(kbId, url)], cancellationToken);

            // KbSync: one warm-up note (the worker's clone), then the burst
            var text = new NoteText(seed: 31 * c);
            var warm = BenchNote.Make(kbId, 0, text, context.RunId);
            await client.SubmitNoteAsync(kbId, "kbsync-bench", warm.Content, warm.OperationId, cancellationToken);
            await sandbox.WaitForFinalAsync(warm.OperationId, TimeSpan.FromMinutes(3), TimeSpan.FromMilliseconds(20), cancellationToken);
            var notes = Enumerable.Range(1, options.BurstNotes).Select(i => BenchNote.Make(kbId, i, text, context.RunId)).ToList();
            Report.Progress($"{Name} [{condition.Name}]: KbSync, publishing {notes.Count} notes");
            foreach (var note in notes)
            {
                await client.SubmitNoteAsync(kbId, "kbsync-bench", note.Content, note.OperationId, cancellationToken);
            }

            var rows = await sandbox.WaitForAllFinalAsync([.. notes.Select(n => n.OperationId)], TimeSpan.FromMinutes(20), cancellationToken);
            var first = rows.Min(r => r.RequestedAt);
            var last = rows.Max(r => r.FinishedAt ?? r.RequestedAt);
            var kbsyncCheck = await RemoteCheck.OfAsync(remotes.PathOf(kbId), [.. notes.Select(n => n.OperationId)], cancellationToken);
            var kbsync = new Result(condition.Name, "KbSync, 1 worker, group commit", notes.Count, rows.Count(r => !r.Succeeded), (last - first).TotalSeconds,
                [.. rows.Where(r => r.Succeeded).Select(r => r.EndToEndMs ?? double.NaN)], kbsyncCheck);
            results.Add(kbsync);
            foreach (var (note, row) in notes.Zip(rows))
            {
                double Ms(DateTime? t) => t is { } v ? (v - first).TotalMilliseconds : double.NaN;
                csv.Append(CultureInfo.InvariantCulture,
                    $"{condition.Name},kbsync,{note.Sequence},{note.OperationId},{row.Status},bench,{Ms(row.RequestedAt):0.#},{Ms(row.StartedAt):0.#},{Ms(row.FinishedAt):0.#},{row.EndToEndMs:0.#},{row.QueueWaitMs:0.#},{row.LockWaitMs:0.#},{row.PullMs:0.#},{row.ProcessMs:0.#},{row.CommitMs:0.#},{row.PushMs:0.#},{row.ErrorCode}\n");
            }

            Report.Progress($"{Name} [{condition.Name}]: KbSync {kbsync.NotesPerSecond:N1} notes/s; baseline next ({options.BaselineWriters} writers)");

            // the baseline: the same notes (same ids, titles, text) to its own remote, with the same seeded notes indexed the original way (one index.md)
            var baselineNotes = notes.Take(options.BaselineBurstNotes).Select(n => n with { KbId = $"baseline-{c}" }).ToList();
            var writers = new GitCliWriters(Path.Combine(sandbox.Folder, $"writers-{c}"), options.BaselineWriters, new Dictionary<string, string> { [$"baseline-{c}"] = baselineUrl });
            await writers.PrepareAsync(cancellationToken);
            var samples = await writers.RunAsync(baselineNotes, cancellationToken);
            var baselineCheck = await RemoteCheck.OfAsync(remotes.PathOf($"baseline-{c}"), [.. baselineNotes.Select(n => n.OperationId)], cancellationToken);
            var baseline = new Result(condition.Name, $"baseline, {options.BaselineWriters} git-CLI writers", samples.Count, samples.Count(s => !s.Succeeded),
                samples.Max(s => s.FinishedMs) / 1000, [.. samples.Where(s => s.Succeeded).Select(s => s.EndToEndMs)], baselineCheck);
            results.Add(baseline);
            foreach (var s in samples)
            {
                csv.Append(CultureInfo.InvariantCulture,
                    $"{condition.Name},baseline,{s.Note.Sequence},{s.Note.OperationId},{(s.Succeeded ? "succeeded" : "failed")},w{s.Writer},{s.PublishedMs:0.#},{s.StartedMs:0.#},{s.FinishedMs:0.#},{s.EndToEndMs:0.#},,,,,,,\"{s.Error?.Replace('"', '\'').ReplaceLineEndings(" ")}\"\n");
            }

            Report.Progress($"{Name} [{condition.Name}]: baseline {baseline.NotesPerSecond:N1} notes/s");
            context.Chart.Add("burst at one KB: notes/s", condition.Name, "KbSync", kbsync.NotesPerSecond);
            context.Chart.Add("burst at one KB: notes/s", condition.Name, "baseline", baseline.NotesPerSecond);
        }

        File.WriteAllText(context.ResultPath(Name, "notes.csv"), csv.ToString());
        Print(context, results, worker, loadBefore);
    }

    private void Print(BenchContext context, List<Result> results, WorkerProcess worker, string loadBefore)
    {
        var options = context.Options;
        var report = context.Report;
        report.WriteLine($"== {Name} ==");
        report.WriteLine($"{options.BurstNotes} notes to one KB ({KbFiles} files at seed) published as fast as possible. KbSync: the .NET client publishes them one");
        report.WriteLine("after the other, one kbworker (group commit on, KbWorker__MaxBatchSize default 20) after one warm-up note (its clone).");
        report.WriteLine($"Baseline: the first {Math.Min(options.BaselineBurstNotes, options.BurstNotes)} of the same notes queued at once (it is serial under its lock, so its notes/s is");
        report.WriteLine("steady; its latencies are for that shorter burst, so they flatter it), taken in order by " + $"{options.BaselineWriters} writers, each note one 'flock <kb>.lock sh -c");
        report.WriteLine("\"git pull; write note; append index.md; git add; git commit; git push\"' in the writer's own clone (clones made before).");
        report.WriteLine($"Remotes: 'local' = bare repository by path; '+{options.LatencyMs} ms' = the same over smart HTTP (git http-backend) answering every");
        report.WriteLine($"HTTP request {options.LatencyMs} ms late. notes/s = notes / (last push - first publish); end to end = finished - published, ms.");
        report.WriteLine();
        var table = new TextTable("remote", "system", "notes", "failed", "seconds", "notes/s", "e2e p50", "e2e p95", "e2e p99", "remote history");
        var csv = new StringBuilder("condition,system,notes,failed,seconds,notes_per_second,e2e_p50_ms,e2e_p95_ms,e2e_p99_ms,commits,distinct,order_kept,out_of_order\n");
        foreach (var group in results.GroupBy(r => r.Condition))
        {
            foreach (var r in group)
            {
                table.Row(r.Condition, r.System, r.Notes.ToString(CultureInfo.InvariantCulture), r.Failed.ToString(CultureInfo.InvariantCulture), r.Seconds.ToString("N1", CultureInfo.InvariantCulture),
                    Fmt.Rate(r.NotesPerSecond), Fmt.Ms(r.P(0.5)), Fmt.Ms(r.P(0.95)), Fmt.Ms(r.P(0.99)), r.Check.Verdict);
                csv.Append(CultureInfo.InvariantCulture,
                    $"{r.Condition},\"{r.System}\",{r.Notes},{r.Failed},{r.Seconds:0.###},{r.NotesPerSecond:0.###},{r.P(0.5):0.#},{r.P(0.95):0.#},{r.P(0.99):0.#},{r.Check.CommitsFound},{r.Check.Distinct},{r.Check.OrderKept.ToString().ToLowerInvariant()},{r.Check.OutOfOrder}\n");
            }

            var k = group.First();
            var b = group.Last();
            table.Row(group.Key, "KbSync / baseline", "", "", "", Fmt.Ratio(k.NotesPerSecond, b.NotesPerSecond),
                Fmt.Ratio(k.P(0.5), b.P(0.5)), Fmt.Ratio(k.P(0.95), b.P(0.95)), Fmt.Ratio(k.P(0.99), b.P(0.99)), "");
            table.Rule();
        }

        report.Write(table.ToString());
        File.WriteAllText(context.ResultPath(Name, "summary.csv"), csv.ToString());
        report.WriteLine();
        foreach (var group in results.GroupBy(r => r.Condition))
        {
            var ratio = group.First().NotesPerSecond / group.Last().NotesPerSecond;
            report.WriteLine($"Target (issue #6): KbSync >= {Target:0}x the baseline's notes/s. [{group.Key}] {ratio:N1}x -> {(ratio >= Target ? "MET" : $"MISSED (by {Target / ratio:N1}x: {ratio / Target:P0} of the target)")}.");
        }

        var kbsyncOk = results.Where(r => r.System.StartsWith("KbSync", StringComparison.Ordinal)).All(r => r.Check.EachOwnCommit && r.Check.OrderKept);
        report.WriteLine($"KbSync: each note its own commit and publish order kept on every remote: {(kbsyncOk ? "yes" : "NO")}.");
        if (worker.Memory() is { } memory)
        {
            report.WriteLine($"Worker peak RSS (VmHWM) after both bursts: {memory.PeakMiB:N0} MiB.");
        }

        report.WriteLine($"Load average (1, 5, 15 min) before: {loadBefore}; after: {MachineInfo.LoadAverage()}.");
        report.WriteLine($"Raw data: {Name}-notes.csv (every note, both systems), {Name}-summary.csv.");
    }

    private sealed record Result(string Condition, string System, int Notes, int Failed, double Seconds, double[] EndToEnd, RemoteCheck Check)
    {
        public double NotesPerSecond => (Notes - Failed) / Seconds;

        public double P(double q) => Percentile.Of(EndToEnd, q);
    }
}

using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;
using KbSync.Producer.Client;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #6: a burst at one KB. <see cref="BenchOptions.BurstNotes"/> notes published as fast as
/// possible (the .NET client, one after the other, each confirmed by the broker) to one KB of 100
/// files, one worker with group commit on (<c>KbWorker__MaxBatchSize</c> default, or once per value of
/// <see cref="BenchOptions.BurstBatchSizes"/>, each with a fresh worker and KB); the first
/// <see cref="BenchOptions.BaselineBurstNotes"/> of the same notes written by the baseline
/// (<see cref="GitCliWriters"/>, all queued at once) twice, each time to its own remote seeded the
/// same way: by one writer (the original as it ran; issue #15 item 7 judges the 20x target against
/// it) and by <see cref="BenchOptions.BaselineWriters"/> writers contending for one lock (slower
/// than one, so a ratio against it flatters KbSync; kept as information). All on a local remote and
/// over HTTP with added latency, side by side in one run.
/// Throughput from the first publish to the last push; end-to-end latency per note; the remote's
/// history checked: one commit per note (trailers) and publish order kept. Where each KbSync group's
/// time went (<see cref="GroupStages"/>), and with <see cref="BenchOptions.BurstPoisonNotes"/> what one
/// bad note costs the others (<see cref="PoisonAsync"/>).
/// </summary>
public sealed class BurstScenario : IScenario
{
    public const double Target = 20;

    /// <summary>The requester of the bad note of <see cref="BenchOptions.BurstPoisonNotes"/>: the workers are armed to fail on it (<c>KBSYNC_FAULT_FOR</c>).</summary>
    private const string PoisonRequester = "bench-poison";
    private const int KbFiles = 100;

    public string Name => "burst";

    public string Description => "issue #6: N notes at one KB as fast as possible, KbSync (1 worker, group commit) vs 1 and N git-CLI writers; local and +latency; target >= 20x the single writer's notes/s";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        await using var sandbox = await BenchSandbox.CreateAsync(context.Settings, Name, context.RunFolder, options.Keep, cancellationToken);
        Report.Progress($"{Name}: virtual host {sandbox.Name}, database {sandbox.DatabaseName}");
        var client = await sandbox.StartClientAsync(cancellationToken);
        var settings = options.BurstBatchSizes.Count == 0 ? [null] : options.BurstBatchSizes.Select(n => (int?)n).ToList();

        var results = new List<Result>();
        var poisons = new List<Poison>();
        var csv = new StringBuilder("condition,system,sequence,operation_id,status,worker_or_writer,published_ms,started_ms,finished_ms,end_to_end_ms,queue_wait_ms,lock_wait_ms,pull_ms,process_ms,commit_ms,push_ms,error\n");
        var loadBefore = MachineInfo.LoadAverage();
        var c = 0;
        foreach (var condition in RemoteCondition.Both(options.LatencyMs))
        {
            c++;
            await using var remotes = new RemoteHost(Path.Combine(sandbox.Folder, $"remotes-{c}"), condition);
            var text = new NoteText(seed: 31 * c);
            List<BenchNote>? firstNotes = null;
            foreach (var (batch, s) in settings.Select((b, s) => (b, s + 1)))
            {
                // each setting: its own KB (seeded the same way) and a fresh worker, so none runs against a KB the one before made bigger
                var kbId = batch is { } size ? $"burst-{c}-groups-{size}" : $"burst-{c}";
                var (url, _) = await remotes.CreateAsync(kbId, KbFiles, seed: 100 + c, IndexLayout.Monthly, cancellationToken);
                await sandbox.RegisterKbsAsync([(kbId, url)], cancellationToken);
                var environment = new Dictionary<string, string> { ["KBSYNC_FAULT_FOR"] = options.BurstPoisonNotes > 0 ? PoisonRequester : "" };
                if (batch is { } value)
                {
                    environment["KbWorker__MaxBatchSize"] = value.ToString(CultureInfo.InvariantCulture);
                }

                await using var worker = await sandbox.StartWorkerAsync($"bench-{c}-{s}", cancellationToken, environment);

                // KbSync: one warm-up note (the worker's clone), then the burst
                var warm = BenchNote.Make(kbId, 0, text, context.RunId);
                await client.SubmitNoteAsync(kbId, "kbsync-bench", warm.Content, warm.OperationId, cancellationToken);
                await sandbox.WaitForFinalAsync(warm.OperationId, TimeSpan.FromMinutes(3), TimeSpan.FromMilliseconds(20), cancellationToken);
                var notes = Enumerable.Range(1, options.BurstNotes).Select(i => BenchNote.Make(kbId, i, text, context.RunId)).ToList();
                firstNotes ??= notes;
                Report.Progress($"{Name} [{condition.Name}]: KbSync{Groups(batch)}, publishing {notes.Count} notes");
                foreach (var note in notes)
                {
                    await client.SubmitNoteAsync(kbId, "kbsync-bench", note.Content, note.OperationId, cancellationToken);
                }

                var rows = await sandbox.WaitForAllFinalAsync([.. notes.Select(n => n.OperationId)], TimeSpan.FromMinutes(20), cancellationToken);
                var first = rows.Min(r => r.RequestedAt);
                var last = rows.Max(r => r.FinishedAt ?? r.RequestedAt);
                var kbsyncCheck = await RemoteCheck.OfAsync(remotes.PathOf(kbId), [.. notes.Select(n => n.OperationId)], cancellationToken);
                var result = new Result(condition.Name, $"KbSync, 1 worker{Groups(batch)}", notes.Count, rows.Count(r => !r.Succeeded), (last - first).TotalSeconds,
                    [.. rows.Where(r => r.Succeeded).Select(r => r.EndToEndMs ?? double.NaN)], kbsyncCheck, Stages: GroupStages.Of(rows), PeakMiB: worker.Memory()?.PeakMiB);
                results.Add(result);
                foreach (var (note, row) in notes.Zip(rows))
                {
                    double Ms(DateTime? t) => t is { } v ? (v - first).TotalMilliseconds : double.NaN;
                    csv.Append(CultureInfo.InvariantCulture,
                        $"{condition.Name},kbsync{(batch is { } n ? $"-groups-{n}" : "")},{note.Sequence},{note.OperationId},{row.Status},bench,{Ms(row.RequestedAt):0.#},{Ms(row.StartedAt):0.#},{Ms(row.FinishedAt):0.#},{row.EndToEndMs:0.#},{row.QueueWaitMs:0.#},{row.LockWaitMs:0.#},{row.PullMs:0.#},{row.ProcessMs:0.#},{row.CommitMs:0.#},{row.PushMs:0.#},{row.ErrorCode}\n");
                }

                Report.Progress($"{Name} [{condition.Name}]: KbSync{Groups(batch)} {result.NotesPerSecond:N1} notes/s");
                context.Chart.Add("burst at one KB: notes/s", condition.Name, $"KbSync{Groups(batch)}", result.NotesPerSecond);
                if (options.BurstPoisonNotes > 0)
                {
                    poisons.Add(await PoisonAsync(sandbox, client, condition.Name, $"KbSync, 1 worker{Groups(batch)}", kbId, text, options, context.RunId, result.NotesPerSecond, csv, cancellationToken));
                }
            }

            Report.Progress($"{Name} [{condition.Name}]: baselines next ({string.Join(" then ", WriterCounts(options).Select(Writers))})");

            // the baselines: the same notes (same ids, titles, text), each writer count to its own freshly seeded remote with the seeded notes indexed the original way (one index.md)
            foreach (var writerCount in WriterCounts(options))
            {
                var baselineKb = $"baseline-{c}-{writerCount}w";
                var (baselineUrl, _) = await remotes.CreateAsync(baselineKb, KbFiles, seed: 100 + c, IndexLayout.Single, cancellationToken);
                var baselineNotes = firstNotes!.Take(options.BaselineBurstNotes).Select(n => n with { KbId = baselineKb }).ToList();
                var writers = new GitCliWriters(Path.Combine(sandbox.Folder, $"writers-{c}-{writerCount}w"), writerCount, new Dictionary<string, string> { [baselineKb] = baselineUrl });
                await writers.PrepareAsync(cancellationToken);
                var samples = await writers.RunAsync(baselineNotes, cancellationToken);
                var baselineCheck = await RemoteCheck.OfAsync(remotes.PathOf(baselineKb), [.. baselineNotes.Select(n => n.OperationId)], cancellationToken);
                var baseline = new Result(condition.Name, $"baseline, {Writers(writerCount)}", samples.Count, samples.Count(s => !s.Succeeded),
                    samples.Max(s => s.FinishedMs) / 1000, [.. samples.Where(s => s.Succeeded).Select(s => s.EndToEndMs)], baselineCheck, writerCount);
                results.Add(baseline);
                foreach (var s in samples)
                {
                    csv.Append(CultureInfo.InvariantCulture,
                        $"{condition.Name},baseline-{writerCount}w,{s.Note.Sequence},{s.Note.OperationId},{(s.Succeeded ? "succeeded" : "failed")},w{s.Writer},{s.PublishedMs:0.#},{s.StartedMs:0.#},{s.FinishedMs:0.#},{s.EndToEndMs:0.#},,,,,,,\"{s.Error?.Replace('"', '\'').ReplaceLineEndings(" ")}\"\n");
                }

                Report.Progress($"{Name} [{condition.Name}]: baseline, {Writers(writerCount)}: {baseline.NotesPerSecond:N1} notes/s");
                context.Chart.Add("burst at one KB: notes/s", condition.Name, $"baseline, {Writers(writerCount)}", baseline.NotesPerSecond);
                foreach (var k in results.Where(r => r.Condition == condition.Name && r.Writers == 0))
                {
                    context.Chart.Add($"burst at one KB: KbSync notes/s / baseline notes/s (target >= {Target:0}x against 1 writer)", condition.Name, $"{k.System} / {Short(writerCount)}", k.NotesPerSecond / baseline.NotesPerSecond);
                }
            }
        }

        File.WriteAllText(context.ResultPath(Name, "notes.csv"), csv.ToString());
        Print(context, results, poisons, loadBefore);
    }

    /// <summary>
    /// The baselines' writer counts, in the order they run: one writer first (issue #15 item 7: the
    /// original as it ran, one process per note, nothing to contend with; the target is judged
    /// against it), then <see cref="BenchOptions.BaselineWriters"/> contending for the lock (the
    /// comparison the scenario made before, kept as information), unless that is also 1.
    /// </summary>
    private static IEnumerable<int> WriterCounts(BenchOptions options) => new[] { 1, options.BaselineWriters }.Distinct();

    private static string Writers(int count) => count == 1 ? "1 git-CLI writer" : $"{count} git-CLI writers";

    private static string Groups(int? batch) => batch is { } n ? $", groups of {n}" : ", group commit";

    private static string Short(int count) => count == 1 ? "1 writer" : $"{count} writers";

    /// <summary>
    /// What one bad note costs the others: <see cref="BenchOptions.BurstPoisonNotes"/> more notes published
    /// like the burst, the middle one requested by <see cref="PoisonRequester"/>, which the worker is armed
    /// to fail on as a bug would (<c>KBSYNC_FAULT_FOR</c>). The backstop retries its group
    /// (<c>KbWorker__MaxFailedAttempts</c>, pauses of 1, 2, 4 s), then splits it to find the bad note.
    /// </summary>
    private static async Task<Poison> PoisonAsync(BenchSandbox sandbox, KbSyncClient client, string condition, string system, string kbId, NoteText text, BenchOptions options, string runId,
        double burstRate, StringBuilder csv, CancellationToken cancellationToken)
    {
        var notes = Enumerable.Range(options.BurstNotes + 1, options.BurstPoisonNotes).Select(i => BenchNote.Make(kbId, i, text, runId)).ToList();
        var bad = notes[notes.Count / 2];
        Report.Progress($"burst [{condition}]: {system}, {notes.Count} notes with one bad (#{bad.Sequence})");
        foreach (var note in notes)
        {
            await client.SubmitNoteAsync(kbId, note == bad ? PoisonRequester : "kbsync-bench", note.Content, note.OperationId, cancellationToken);
        }

        var rows = await sandbox.WaitForAllFinalAsync([.. notes.Select(n => n.OperationId)], TimeSpan.FromMinutes(20), cancellationToken);
        var first = rows.Min(r => r.RequestedAt);
        var good = rows.Where(r => r.Id != bad.OperationId).ToList();
        var badRow = rows.Single(r => r.Id == bad.OperationId);
        foreach (var (note, row) in notes.Zip(rows))
        {
            double Ms(DateTime? t) => t is { } v ? (v - first).TotalMilliseconds : double.NaN;
            csv.Append(CultureInfo.InvariantCulture,
                $"{condition},poison {system},{note.Sequence},{note.OperationId},{row.Status},bench,{Ms(row.RequestedAt):0.#},{Ms(row.StartedAt):0.#},{Ms(row.FinishedAt):0.#},{row.EndToEndMs:0.#},{row.QueueWaitMs:0.#},{row.LockWaitMs:0.#},{row.PullMs:0.#},{row.ProcessMs:0.#},{row.CommitMs:0.#},{row.PushMs:0.#},{row.ErrorCode}\n");
        }

        var singles = good.GroupBy(r => r.FinishedAt).Count(g => g.Count() == 1);
        return new Poison(condition, system, notes.Count, bad.Sequence - notes[0].Sequence + 1, badRow.ErrorCode ?? badRow.Status, good.Count(r => !r.Succeeded),
            (rows.Max(r => r.FinishedAt ?? r.RequestedAt) - first).TotalSeconds, notes.Count / burstRate,
            [.. good.Select(r => r.EndToEndMs ?? double.NaN)], singles);
    }

    private void Print(BenchContext context, List<Result> results, List<Poison> poisons, string loadBefore)
    {
        var options = context.Options;
        var report = context.Report;
        var counts = WriterCounts(options).ToList();
        var batches = options.BurstBatchSizes.Count == 0 ? "KbWorker__MaxBatchSize at the worker's default" : $"once per KbWorker__MaxBatchSize of {string.Join(", ", options.BurstBatchSizes)}, each a fresh worker and KB";
        report.WriteLine($"== {Name} ==");
        report.WriteLine($"{options.BurstNotes} notes to one KB ({KbFiles} files at seed) published as fast as possible. KbSync: the .NET client publishes them one");
        report.WriteLine($"after the other, one kbworker with group commit ({batches}), after one warm-up note (its clone).");
        report.WriteLine($"Baselines: the first {Math.Min(options.BaselineBurstNotes, options.BurstNotes)} of the same notes queued at once (it is serial under its lock, so its notes/s is");
        report.WriteLine("steady; its latencies are for that shorter burst, so they flatter it), each note one 'flock <kb>.lock sh -c");
        report.WriteLine("\"git pull; write note; append index.md; git add; git commit; git push\"' in the writer's own clone (clones made before),");
        report.WriteLine($"taken in order by {string.Join(", then by ", counts.Select(n => n == 1 ? "1 writer (the original as it ran: the target is judged against it)" : $"{n} writers contending for the lock (information)"))};");
        report.WriteLine("each baseline writes to its own freshly seeded remote.");
        report.WriteLine($"Remotes: 'local' = bare repository by path; '+{options.LatencyMs} ms' = the same over smart HTTP (git http-backend) answering every");
        report.WriteLine($"HTTP request {options.LatencyMs} ms late. notes/s = notes / (last push - first publish); end to end = finished - published, ms.");
        report.WriteLine();
        var table = new TextTable("remote", "system", "notes", "failed", "seconds", "notes/s", "e2e p50", "e2e p95", "e2e p99", "remote history");
        var csv = new StringBuilder("condition,system,writers,notes,failed,seconds,notes_per_second,e2e_p50_ms,e2e_p95_ms,e2e_p99_ms,commits,distinct,order_kept,out_of_order,kbsync_ratio\n");
        foreach (var group in results.GroupBy(r => r.Condition))
        {
            var k = group.First(r => r.Writers == 0);
            foreach (var r in group)
            {
                table.Row(r.Condition, r.System, r.Notes.ToString(CultureInfo.InvariantCulture), r.Failed.ToString(CultureInfo.InvariantCulture), r.Seconds.ToString("N1", CultureInfo.InvariantCulture),
                    Fmt.Rate(r.NotesPerSecond), Fmt.Ms(r.P(0.5)), Fmt.Ms(r.P(0.95)), Fmt.Ms(r.P(0.99)), r.Check.Verdict);
                var ratio = r.Writers == 0 ? "" : (k.NotesPerSecond / r.NotesPerSecond).ToString("0.###", CultureInfo.InvariantCulture);
                csv.Append(CultureInfo.InvariantCulture,
                    $"{r.Condition},\"{r.System}\",{(r.Writers == 0 ? "" : r.Writers)},{r.Notes},{r.Failed},{r.Seconds:0.###},{r.NotesPerSecond:0.###},{r.P(0.5):0.#},{r.P(0.95):0.#},{r.P(0.99):0.#},{r.Check.CommitsFound},{r.Check.Distinct},{r.Check.OrderKept.ToString().ToLowerInvariant()},{r.Check.OutOfOrder},{ratio}\n");
            }

            foreach (var kbsync in group.Where(r => r.Writers == 0))
            {
                foreach (var b in group.Where(r => r.Writers > 0))
                {
                    table.Row(group.Key, $"{kbsync.System.Replace("1 worker, ", "", StringComparison.Ordinal)} / {Short(b.Writers)}", "", "", "", Fmt.Ratio(kbsync.NotesPerSecond, b.NotesPerSecond),
                        Fmt.Ratio(kbsync.P(0.5), b.P(0.5)), Fmt.Ratio(kbsync.P(0.95), b.P(0.95)), Fmt.Ratio(kbsync.P(0.99), b.P(0.99)), b.Writers == 1 ? "the target's ratio" : "information");
                }
            }

            table.Rule();
        }

        report.Write(table.ToString());
        File.WriteAllText(context.ResultPath(Name, "summary.csv"), csv.ToString());
        report.WriteLine();
        report.WriteLine("KbSync's groups (from the history rows: a group's notes share finished_at): median per group, ms. run = started_at to");
        report.WriteLine("finished_at (history begin, lock, pull, process, commit, push); gap = the next group's started_at - this group's finished_at");
        report.WriteLine("(history finish, results published, messages acknowledged, the next group taken). Pull and push are the group's, process");
        report.WriteLine("and commit summed over its notes; other = run - pull - process - commit - push, per group (history begin, lock, clone open).");
        var stages = new TextTable("remote", "system", "groups", "size p50", "run", "pull", "process", "commit", "push", "other", "gap", "gap share");
        foreach (var r in results.Where(r => r.Stages is not null))
        {
            var g = r.Stages!;
            stages.Row(r.Condition, r.System, g.Groups.ToString(CultureInfo.InvariantCulture), g.Size.ToString("0", CultureInfo.InvariantCulture), Fmt.Ms(g.Run), Fmt.Ms(g.Pull), Fmt.Ms(g.Process), Fmt.Ms(g.Commit), Fmt.Ms(g.Push),
                Fmt.Ms(g.Other), Fmt.Ms(g.Gap), g.GapShare.ToString("P0", CultureInfo.InvariantCulture));
        }

        report.Write(stages.ToString());
        report.WriteLine("gap share = the gaps' total over the burst's time from the first group's start to the last group's end.");
        report.WriteLine();
        foreach (var group in results.GroupBy(r => r.Condition))
        {
            var single = group.Single(r => r.Writers == 1);
            foreach (var k in group.Where(r => r.Writers == 0))
            {
                var ratio = k.NotesPerSecond / single.NotesPerSecond;
                report.WriteLine($"Target (issue #6, #15 item 7): KbSync >= {Target:0}x a single git-CLI writer's notes/s. [{group.Key}] {k.System}: {ratio:N1}x ({Fmt.Rate(k.NotesPerSecond)} against {Fmt.Rate(single.NotesPerSecond)}) -> " +
                                 $"{(ratio >= Target ? "MET" : $"MISSED (by {Target / ratio:N1}x: {ratio / Target:P0} of the target)")}.");
                foreach (var b in group.Where(r => r.Writers > 1))
                {
                    report.WriteLine($"  information, not the target: [{group.Key}] against {b.Writers} writers contending for one lock, {k.NotesPerSecond / b.NotesPerSecond:N1}x ({Fmt.Rate(k.NotesPerSecond)} against {Fmt.Rate(b.NotesPerSecond)}).");
                }
            }
        }

        if (poisons.Count > 0)
        {
            report.WriteLine();
            report.WriteLine($"One bad note (--burst-poison): after each burst, {options.BurstPoisonNotes} more notes to the same KB, the middle one failing as a bug would");
            report.WriteLine("(KBSYNC_FAULT_FOR). The backstop retries its group KbWorker__MaxFailedAttempts times (4, pauses 1, 2, 4 s), then finds the");
            report.WriteLine("bad one (the worker's Backstop says how: by halves, or one note at a time before), fails it after its own 4 attempts and");
            report.WriteLine("moves on. 'at burst rate' = the notes / the burst's notes/s; e2e over the good notes, ms; 'alone' = good notes run in a group of one.");
            var poisonTable = new TextTable("remote", "system", "notes", "bad", "bad outcome", "good failed", "seconds", "at burst rate", "good e2e p50", "good e2e p95", "good e2e max", "alone");
            foreach (var p in poisons)
            {
                poisonTable.Row(p.Condition, p.System, p.Notes.ToString(CultureInfo.InvariantCulture), $"#{p.BadAt}", p.BadOutcome, p.GoodFailed.ToString(CultureInfo.InvariantCulture),
                    p.Seconds.ToString("N1", CultureInfo.InvariantCulture), p.AtBurstRate.ToString("N1", CultureInfo.InvariantCulture),
                    Fmt.Ms(Percentile.Of(p.GoodEndToEnd, 0.5)), Fmt.Ms(Percentile.Of(p.GoodEndToEnd, 0.95)), Fmt.Ms(Percentile.Of(p.GoodEndToEnd, 1)), p.Alone.ToString(CultureInfo.InvariantCulture));
            }

            report.Write(poisonTable.ToString());
            report.WriteLine();
        }

        var kbsyncOk = results.Where(r => r.Writers == 0).All(r => r.Check.EachOwnCommit && r.Check.OrderKept);
        report.WriteLine($"KbSync: each note its own commit and publish order kept on every remote: {(kbsyncOk ? "yes" : "NO")}.");
        foreach (var r in results.Where(r => r.PeakMiB is not null))
        {
            report.WriteLine($"Worker peak RSS (VmHWM) after the burst [{r.Condition}] {r.System}: {r.PeakMiB:N0} MiB.");
        }

        report.WriteLine($"Load average (1, 5, 15 min) before: {loadBefore}; after: {MachineInfo.LoadAverage()}.");
        report.WriteLine($"Raw data: {Name}-notes.csv (every note, KbSync and each baseline), {Name}-summary.csv (a row per system; kbsync_ratio = the first KbSync row's notes/s / that baseline's).");
    }

    /// <summary>
    /// Where a KbSync burst's time went, group by group, from its history rows: a group's notes share
    /// <c>finished_at</c> (the worker stamps them at once) and <c>started_at</c>; pull and push are the group's
    /// (each note carries them), process and commit each note's own. Medians per group, ms.
    /// </summary>
    /// <param name="Other">A group's run less its pull, process, commit and push (history begin, lock, clone open), median over the groups.</param>
    private sealed record GroupStages(int Groups, double Size, double Run, double Pull, double Process, double Commit, double Push, double Other, double Gap, double GapShare)
    {
        public static GroupStages? Of(IReadOnlyList<OperationRow> rows)
        {
            var groups = rows.Where(r => r.Succeeded && r.StartedAt is not null && r.FinishedAt is not null)
                .GroupBy(r => r.FinishedAt!.Value).OrderBy(g => g.Key).ToList();
            if (groups.Count == 0)
            {
                return null;
            }

            double Median(IEnumerable<double> values) => Percentile.Of([.. values], 0.5);
            double Run(IGrouping<DateTime, OperationRow> g) => (g.Key - g.Min(r => r.StartedAt!.Value)).TotalMilliseconds;
            double Steps(IGrouping<DateTime, OperationRow> g) => g.Max(r => r.PullMs ?? 0) + g.Sum(r => (r.ProcessMs ?? 0) + (r.CommitMs ?? 0)) + g.Max(r => r.PushMs ?? 0);
            var gaps = groups.Zip(groups.Skip(1), (a, b) => (b.Min(r => r.StartedAt!.Value) - a.Key).TotalMilliseconds).ToList();
            var span = (groups[^1].Key - groups[0].Min(r => r.StartedAt!.Value)).TotalMilliseconds;
            return new GroupStages(groups.Count, Median(groups.Select(g => (double)g.Count())),
                Median(groups.Select(Run)),
                Median(groups.Select(g => g.Max(r => r.PullMs ?? 0))),
                Median(groups.Select(g => g.Sum(r => r.ProcessMs ?? 0))),
                Median(groups.Select(g => g.Sum(r => r.CommitMs ?? 0))),
                Median(groups.Select(g => g.Max(r => r.PushMs ?? 0))),
                Median(groups.Select(g => Run(g) - Steps(g))),
                gaps.Count == 0 ? double.NaN : Median(gaps),
                span > 0 ? gaps.Where(x => x > 0).Sum() / span : double.NaN);
        }
    }

    /// <param name="BadAt">The bad note's place among the notes, from 1.</param>
    /// <param name="AtBurstRate">What the notes would have taken at the burst's notes/s, s.</param>
    /// <param name="Alone">Good notes that ran in a group of their own.</param>
    private sealed record Poison(string Condition, string System, int Notes, int BadAt, string BadOutcome, int GoodFailed, double Seconds, double AtBurstRate, double[] GoodEndToEnd, int Alone);

    /// <param name="Writers">0 for KbSync; the baseline's writer count otherwise.</param>
    private sealed record Result(string Condition, string System, int Notes, int Failed, double Seconds, double[] EndToEnd, RemoteCheck Check, int Writers = 0, GroupStages? Stages = null, double? PeakMiB = null)
    {
        public double NotesPerSecond => (Notes - Failed) / Seconds;

        public double P(double q) => Percentile.Of(EndToEnd, q);
    }
}

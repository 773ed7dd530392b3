using System.Diagnostics;
using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;
using KbSync.Contracts;
using KbSync.Producer.Client;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #3 point 7: the cost of one note must not grow with the number of files in the KB. One
/// real worker, KBs seeded with 100, 1,000 and 10,000 notes (indexed by month, as the worker does), notes
/// published with the client library one at a time (publish, wait for the final history row, next),
/// the KB sizes interleaved round-robin so machine noise hits them alike. Costs come from the
/// history rows: pull, process, commit, push, their sum (the git work) and end to end.
/// </summary>
public sealed class KbSizeScenario(bool slowRemote = false) : IScenario
{
    /// <summary>The issue's target: the median git work at the largest size within this factor of the smallest.</summary>
    public const double Target = 1.5;

    private static readonly TimeSpan NoteTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    public string Name => slowRemote ? "kb-size-latency" : "kb-size";

    public string Description => slowRemote
        ? "issue #6: kb-size with the remotes over smart HTTP, every request answered --latency-ms (100) late; git-CLI baseline beside"
        : "per-note cost vs KB size (100, 1,000, 10,000 files): one worker, one note at a time, sizes round-robin; target 1.5x";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var sizes = options.Sizes.Distinct().Order().ToList();

        await using var sandbox = await BenchSandbox.CreateAsync(context.Settings, Name, context.RunFolder, options.Keep, cancellationToken);
        Report.Progress($"{Name}: virtual host {sandbox.Name}, database {sandbox.DatabaseName}");
        var condition = RemoteCondition.Both(options.LatencyMs)[slowRemote ? 1 : 0];
        await using var remotes = new RemoteHost(Path.Combine(sandbox.Folder, "remotes"), condition);

        var kbs = new List<Kb>();
        foreach (var size in sizes)
        {
            var id = $"size-{size}";
            var (url, seeded) = await remotes.CreateAsync(id, size, seed: size, IndexLayout.Monthly, cancellationToken);
            Report.Progress($"{Name}: seeded {id}: {size:N0} notes, this month's index {seeded.IndexBytes / 1024.0:N0} KiB, remote {seeded.RepositoryBytes / 1048576.0:N1} MiB in {seeded.Took.TotalSeconds:N1} s");
            await sandbox.RegisterKbAsync(id, url, cancellationToken);
            kbs.Add(new Kb(id, size, seeded, new NoteText(seed: 7919 * size + 1)));
        }

        var worker = await sandbox.StartWorkerAsync("bench", cancellationToken);
        Report.Progress($"{Name}: worker 'bench' started (pid {worker.ProcessId}); log in {context.RunFolder}");
        var client = await sandbox.StartClientAsync(cancellationToken);

        var samples = new List<Sample>();
        for (var round = 1; round <= options.Warmup; round++)
        {
            foreach (var kb in kbs)
            {
                samples.Add(await SendAsync(sandbox, client, kb, "warmup", round, 0, context.RunId, cancellationToken));
            }

            Report.Progress($"{Name}: warm-up round {round}/{options.Warmup} done");
        }

        var loadBefore = MachineInfo.LoadAverage();
        var clock = Stopwatch.StartNew();
        for (var round = 1; round <= options.Notes; round++)
        {
            // round-robin, and each round starts at another KB so no size is always first after a pause
            for (var j = 0; j < kbs.Count; j++)
            {
                var kb = kbs[(round - 1 + j) % kbs.Count];
                samples.Add(await SendAsync(sandbox, client, kb, "measured", round, j + 1, context.RunId, cancellationToken));
            }

            if (round % 10 == 0 || round == options.Notes)
            {
                Report.Progress($"{Name}: {round}/{options.Notes} measured rounds ({clock.Elapsed.TotalSeconds:N0} s)");
            }
        }

        WriteCsv(context.ResultPath(Name, "notes.csv"), samples);
        var failed = samples.Where(s => !s.Row.Succeeded).ToList();
        var measured = samples.Where(s => s.Phase == "measured" && s.Row.Succeeded).ToList();
        PrintReport(context, kbs, samples, measured, failed);
        context.Report.WriteLine($"Load average (1, 5, 15 min) before the measured notes: {loadBefore}; after: {MachineInfo.LoadAverage()} ({clock.Elapsed.TotalSeconds:N0} s of measuring).");
        await BaselineAsync(context, sandbox, remotes, kbs, measured, cancellationToken);
    }

    /// <summary>
    /// The git-CLI baseline beside KbSync: one writer (<see cref="GitCliWriters"/>), a remote per size
    /// with the same seeded notes indexed the original way (one index.md), the same number of notes one at a time, sizes round-robin; its wall time
    /// per note against KbSync's end to end (publish to finished) per note.
    /// </summary>
    private async Task BaselineAsync(BenchContext context, BenchSandbox sandbox, RemoteHost remotes, List<Kb> kbs, List<Sample> measured, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var urls = new Dictionary<string, string>();
        foreach (var kb in kbs)
        {
            urls[$"baseline-{kb.Files}"] = (await remotes.CreateAsync($"baseline-{kb.Files}", kb.Files, seed: kb.Files, IndexLayout.Single, cancellationToken)).Url;
        }

        var writers = new GitCliWriters(Path.Combine(sandbox.Folder, "writers"), 1, urls);
        await writers.PrepareAsync(cancellationToken);
        var texts = kbs.ToDictionary(kb => kb, kb => new NoteText(seed: 7919 * kb.Files + 2));
        var samples = new List<CliSample>();
        for (var round = 1 - options.Warmup; round <= options.Notes; round++)
        {
            for (var j = 0; j < kbs.Count; j++)
            {
                var kb = kbs[(Math.Abs(round) + j) % kbs.Count];
                var note = BenchNote.Make($"baseline-{kb.Files}", round + options.Warmup, texts[kb], context.RunId);
                var sample = (await writers.RunAsync([note], cancellationToken))[0];
                if (round >= 1)
                {
                    samples.Add(sample);
                }
            }
        }

        Report.Progress($"{Name}: baseline done");
        var report = context.Report;
        report.WriteLine();
        report.WriteLine($"Beside the git-CLI baseline (one writer, the same number of notes one at a time after {options.Warmup} warm-up(s), sizes");
        report.WriteLine("round-robin, a remote with the same notes indexed the original way, one index.md; wall time of its 'flock sh -c \"git pull; write; git add; commit; push\"').");
        var table = new TextTable([$"ms per note, median (p95) of {options.Notes}", .. kbs.Select(kb => $"{kb.Files:N0} files"), .. kbs.Skip(1).Select(kb => $"{kb.Files:N0}/{kbs[0].Files:N0}")]);
        var csv = new StringBuilder("system,files,count,median_ms,p95_ms,min_ms,max_ms\n");
        var kbsync = kbs.Select(kb => Summary.Of(measured.Where(s => s.Kb == kb).Select(s => s.Row.EndToEndMs ?? double.NaN))).ToList();
        var baseline = kbs.Select(kb => Summary.Of(samples.Where(s => s.Note.KbId == $"baseline-{kb.Files}" && s.Succeeded).Select(s => s.FinishedMs - s.StartedMs))).ToList();
        void Row(string name, List<Summary> values)
        {
            table.Row([name, .. values.Select(v => $"{v.Median:N1} ({v.P95:N1})"), .. values.Skip(1).Select(v => Fmt.Ratio(v.Median, values[0].Median))]);
        }

        Row("KbSync end to end (requested -> finished)", kbsync);
        Row("baseline wall time per note", baseline);
        table.Row(["KbSync / baseline", .. kbs.Select((_, i) => Fmt.Ratio(kbsync[i].Median, baseline[i].Median)), .. kbs.Skip(1).Select(_ => "")]);
        report.Write(table.ToString());
        for (var i = 0; i < kbs.Count; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"kbsync,{kbs[i].Files},{kbsync[i].Count},{kbsync[i].Median:0.###},{kbsync[i].P95:0.###},{kbsync[i].Min:0.###},{kbsync[i].Max:0.###}\n");
            csv.Append(CultureInfo.InvariantCulture, $"baseline,{kbs[i].Files},{baseline[i].Count},{baseline[i].Median:0.###},{baseline[i].P95:0.###},{baseline[i].Min:0.###},{baseline[i].Max:0.###}\n");
            context.Chart.Add($"ms per note by KB size ({remotes.Condition.Name} remote), median", $"{kbs[i].Files:N0} files", "KbSync", kbsync[i].Median);
            context.Chart.Add($"ms per note by KB size ({remotes.Condition.Name} remote), median", $"{kbs[i].Files:N0} files", "baseline", baseline[i].Median);
        }

        File.WriteAllText(context.ResultPath(Name, "baseline.csv"), csv.ToString());
        var failedBaseline = samples.Count(s => !s.Succeeded);
        if (failedBaseline > 0)
        {
            report.WriteLine($"  WARNING: {failedBaseline} baseline note(s) failed (see {Name}-baseline.csv).");
        }
    }

    private static async Task<Sample> SendAsync(BenchSandbox sandbox, KbSyncClient client, Kb kb, string phase, int round, int position, string runId, CancellationToken cancellationToken)
    {
        var sequence = ++kb.Sent;
        var title = $"Bench note {sequence} {kb.Text.Title(3)}";
        var text = $"Note {sequence} of run {runId} for KB {kb.Id}.\n\n{kb.Text.Body()}";
        var note = new NoteContent(text, title, kb.Text.Category(sequence), ["bench"]);

        var clock = Stopwatch.StartNew();
        var operationId = await client.SubmitNoteAsync(kb.Id, "kbsync-bench", note, cancellationToken: cancellationToken);
        var row = await sandbox.WaitForFinalAsync(operationId, NoteTimeout, PollInterval, cancellationToken);
        var observed = clock.Elapsed.TotalMilliseconds;
        if (!row.Succeeded)
        {
            Report.Progress($"warning: note {sequence} to {kb.Id} ended {row.Status}: {row.ErrorCode}: {row.ErrorMessage}");
        }

        return new Sample(kb, phase, round, position, row, observed);
    }

    private void PrintReport(BenchContext context, List<Kb> kbs, List<Sample> samples, List<Sample> measured, List<Sample> failed)
    {
        var report = context.Report;
        var options = context.Options;
        var smallest = kbs[0];
        var largest = kbs[^1];

        report.WriteLine($"== {Name} ==");
        report.WriteLine("Per-note cost against KB size: one kbworker process, one note at a time (publish with the .NET");
        report.WriteLine($"client, wait for the final history row, next), {options.Warmup} warm-up note(s) per KB first (not counted;");
        report.WriteLine($"the first clones the KB), then {options.Notes} measured notes per KB, the sizes interleaved round-robin.");
        report.WriteLine("Each note is a new file in one of 20 categories plus one line appended to this month's index file. Times in ms,");
        report.WriteLine("from the operations table (pull, process, commit, push as the worker records them).");
        if (slowRemote)
        {
            report.WriteLine($"REMOTES OVER SMART HTTP (git http-backend), every HTTP request answered {options.LatencyMs} ms late (a fetch or push is 1-2 requests).");
        }

        report.WriteLine();

        var kbTable = new TextTable("KB", "files", "month index at seed", "remote at seed", "first note (clone): git work", "remote after run", "failed notes");
        foreach (var kb in kbs)
        {
            var first = samples.FirstOrDefault(s => s.Kb == kb);
            kbTable.Row(
                kb.Id,
                kb.Files.ToString("N0", CultureInfo.InvariantCulture),
                $"{kb.Seeded.IndexBytes / 1024.0:N0} KiB",
                $"{kb.Seeded.RepositoryBytes / 1048576.0:N1} MiB",
                first is null ? "-" : $"{first.Row.GitMs:N0} ms",
                $"{KbSeeder.FolderBytes(kb.Seeded.RemotePath) / 1048576.0:N1} MiB, {PackCount(kb.Seeded.RemotePath)} packs",
                failed.Count(s => s.Kb == kb).ToString(CultureInfo.InvariantCulture));
        }

        report.Write(kbTable.ToString());
        report.WriteLine();

        var metrics = new (string Name, Func<OperationRow, double?> Value)[]
        {
            ("pull (fetch + trailer catch-up)", r => r.PullMs),
            ("process (layout, read + append month index)", r => r.ProcessMs),
            ("commit (blobs, trees, commit)", r => r.CommitMs),
            ("push", r => r.PushMs),
            ("git work = pull+process+commit+push", r => r.GitMs),
            ("worker run (started -> finished)", r => r.RunMs),
            ("  of which outside git work", r => r.RunMs - r.GitMs),
            ("queue wait", r => r.QueueWaitMs),
            ("end to end (requested -> finished)", r => r.EndToEndMs),
        };

        var headers = new List<string> { $"ms, median (p95) of {options.Notes}" };
        headers.AddRange(kbs.Select(kb => $"{kb.Files:N0} files"));
        headers.AddRange(kbs.Skip(1).Select(kb => $"{kb.Files:N0}/{smallest.Files:N0}"));
        var table = new TextTable([.. headers]);
        var summaryCsv = new StringBuilder("metric,files,count,median_ms,p95_ms,min_ms,max_ms,ratio_to_smallest\n");
        var ratios = new Dictionary<string, double>();
        foreach (var (name, value) in metrics)
        {
            var summaries = kbs.Select(kb => Summary.Of(measured.Where(s => s.Kb == kb).Select(s => value(s.Row)).OfType<double>())).ToList();
            var cells = new List<string> { name };
            cells.AddRange(summaries.Select(s => $"{s.Median:N1} ({s.P95:N1})"));
            for (var i = 1; i < kbs.Count; i++)
            {
                var ratio = summaries[i].Median / summaries[0].Median;
                cells.Add(double.IsFinite(ratio) ? $"{ratio:N2}x" : "-");
                ratios[$"{name}|{kbs[i].Files}"] = ratio;
            }

            for (var i = 0; i < kbs.Count; i++)
            {
                var s = summaries[i];
                summaryCsv.Append(CultureInfo.InvariantCulture,
                    $"\"{name.Trim()}\",{kbs[i].Files},{s.Count},{s.Median:0.###},{s.P95:0.###},{s.Min:0.###},{s.Max:0.###},{summaries[i].Median / summaries[0].Median:0.###}\n");
            }

            if (name.StartsWith("push", StringComparison.Ordinal) || name.StartsWith("  of which", StringComparison.Ordinal))
            {
                table.Row([.. cells]).Rule();
            }
            else
            {
                table.Row([.. cells]);
            }
        }

        report.Write(table.ToString());
        File.WriteAllText(context.ResultPath(Name, "summary.csv"), summaryCsv.ToString());
        report.WriteLine();

        if (kbs.Count < 2)
        {
            report.WriteLine("Only one KB size: no ratio to judge.");
            return;
        }

        var gitRatio = ratios[$"git work = pull+process+commit+push|{largest.Files}"];
        var e2eRatio = ratios[$"end to end (requested -> finished)|{largest.Files}"];
        var met = gitRatio <= Target;
        report.WriteLine($"Target (issue #3.7): median git work per note at {largest.Files:N0} files within {Target:0.0}x of {smallest.Files:N0} files.");
        report.WriteLine($"  git work {largest.Files:N0}/{smallest.Files:N0} = {gitRatio:N2}x -> {(met ? "MET" : "MISSED")}; end to end {largest.Files:N0}/{smallest.Files:N0} = {e2eRatio:N2}x.");
        if (failed.Count > 0)
        {
            report.WriteLine($"  WARNING: {failed.Count} note(s) did not succeed; they are left out of the table (see the CSV).");
        }

        report.WriteLine($"Raw data: {Path.GetRelativePath(Directory.GetCurrentDirectory(), context.ResultPath(Name, "notes.csv"))} (every note), " +
                         $"{Path.GetRelativePath(Directory.GetCurrentDirectory(), context.ResultPath(Name, "summary.csv"))}.");
    }

    private static int PackCount(string repository)
    {
        var packs = Path.Combine(repository, "objects", "pack");
        return Directory.Exists(packs) ? Directory.EnumerateFiles(packs, "*.pack").Count() : 0;
    }

    private static void WriteCsv(string path, IEnumerable<Sample> samples)
    {
        var csv = new StringBuilder("kb_id,files,phase,round,position,operation_id,status,requested_at,started_at,finished_at,queue_wait_ms,lock_wait_ms,pull_ms,process_ms,commit_ms,push_ms,git_ms,run_ms,end_to_end_ms,client_observed_ms,note_path,commit_sha,error_code\n");
        foreach (var s in samples)
        {
            var r = s.Row;
            csv.AppendJoin(',',
                s.Kb.Id, s.Kb.Files.ToString(CultureInfo.InvariantCulture), s.Phase, s.Round.ToString(CultureInfo.InvariantCulture), s.Position.ToString(CultureInfo.InvariantCulture),
                r.Id.ToString("D"), r.Status, Time(r.RequestedAt), Time(r.StartedAt), Time(r.FinishedAt),
                Ms(r.QueueWaitMs), Ms(r.LockWaitMs), Ms(r.PullMs), Ms(r.ProcessMs), Ms(r.CommitMs), Ms(r.PushMs), Ms(r.GitMs), Ms(r.RunMs), Ms(r.EndToEndMs), Ms(s.ObservedMs),
                r.NotePath ?? "", r.CommitSha ?? "", r.ErrorCode ?? "");
            csv.Append('\n');
        }

        File.WriteAllText(path, csv.ToString());
    }

    private static string Ms(double? value) => value?.ToString("0.###", CultureInfo.InvariantCulture) ?? "";

    private static string Time(DateTime? value) => value?.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture) ?? "";

    private sealed class Kb(string id, int files, SeededKb seeded, NoteText text)
    {
        public string Id { get; } = id;
        public int Files { get; } = files;
        public SeededKb Seeded { get; } = seeded;
        public NoteText Text { get; } = text;
        public int Sent { get; set; }
    }

    private sealed record Sample(Kb Kb, string Phase, int Round, int Position, OperationRow Row, double ObservedMs);
}

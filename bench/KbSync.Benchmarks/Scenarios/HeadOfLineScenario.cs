using System.Diagnostics;
using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;
using KbSync.Contracts;
using KbSync.Producer.Client;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #15 item 5: head-of-line blocking. One hot KB and <see cref="QuietKbs"/> quiet KBs, all hashing
/// to the same partition (so they share one FIFO queue), on local remotes, one worker (fresh KBs and a fresh worker for each setting). First the quiet KBs
/// alone: a quiet note every <see cref="QuietIntervalMs"/> ms, round robin, <see cref="QuietAloneNotes"/>
/// in all. Then the hot KB's backlog (<see cref="BenchOptions.HolBacklog"/> notes published one after
/// the other as fast as the broker confirms them) while the quiet KBs go on publishing at the same pace,
/// from the moment a tenth of the backlog is published until the whole backlog is done. Reports the quiet
/// notes' end-to-end latency (p50/p95/max) alone and with the backlog, and the hot KB's notes/s, side by
/// side; checks every remote's history (one commit per note, publish order kept). Runs once per
/// <c>--hol-lookahead</c> value (<c>KbWorker__PartitionLookahead</c> of a fresh worker), or once with the
/// worker's defaults; <c>KBSYNC_BENCH_WORKER_DLL</c> runs it against another build's worker.
/// </summary>
public sealed class HeadOfLineScenario : IScenario
{
    private const int QuietKbs = 4;
    private const int QuietIntervalMs = 250;
    private const int QuietAloneNotes = 24;
    private const int KbFiles = 100;

    public string Name => "head-of-line";

    public string Description => "issue #15: quiet KBs' latency beside a hot KB's backlog in the same partition, and the hot KB's notes/s";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        await using var sandbox = await BenchSandbox.CreateAsync(context.Settings, Name, context.RunFolder, options.Keep, cancellationToken);
        var partitions = new RabbitMqOptions().Partitions;
        await using var remotes = new RemoteHost(Path.Combine(sandbox.Folder, "remotes"), new RemoteCondition("local", null));
        var client = await sandbox.StartClientAsync(cancellationToken);
        var text = new NoteText(seed: 15);
        var sequence = 0;
        BenchNote Note(string kb) => BenchNote.Make(kb, Interlocked.Increment(ref sequence), text, context.RunId);
        var published = new Dictionary<string, List<Guid>>();

        var settings = options.HolLookaheads.Count == 0 ? [null] : options.HolLookaheads.Select(n => (int?)n).ToList();
        var results = new List<Result>();
        var layouts = new List<string>();
        var csv = new StringBuilder("setting,phase,kb,sequence,operation_id,status,end_to_end_ms,queue_wait_ms\n");
        var loadBefore = MachineInfo.LoadAverage();
        foreach (var (lookahead, s) in settings.Select((l, s) => (l, s + 1)))
        {
            var setting = lookahead is { } n ? $"PartitionLookahead={n}" : "worker defaults";
            // fresh KBs for each setting, so that none runs against KBs the one before made bigger
            var hot = $"hol-hot-{s}";
            var partition = Partitioning.PartitionOf(hot, partitions);
            var quiet = Enumerable.Range(0, int.MaxValue).Select(i => $"hol-quiet-{s}-{i}").Where(k => Partitioning.PartitionOf(k, partitions) == partition).Take(QuietKbs).ToList();
            var kbs = new List<(string, string)>();
            foreach (var (kb, i) in quiet.Prepend(hot).Select((k, i) => (k, i)))
            {
                kbs.Add((kb, (await remotes.CreateAsync(kb, KbFiles, seed: 500 + i, IndexLayout.Monthly, cancellationToken)).Url));
                published[kb] = [];
            }

            await sandbox.RegisterKbsAsync(kbs, cancellationToken);
            layouts.Add($"[{setting}] {hot} and {string.Join(", ", quiet)}: partition {partition} of {partitions}");
            var environment = lookahead is { } value ? new Dictionary<string, string> { ["KbWorker__PartitionLookahead"] = value.ToString(CultureInfo.InvariantCulture) } : null;
            await using var worker = await sandbox.StartWorkerAsync($"hol-{s}", cancellationToken, environment);
            Report.Progress($"{Name} [{setting}]: warm-up (one note per KB: the clones)");
            var warm = new List<Guid>();
            foreach (var (kb, _) in kbs)
            {
                var note = Note(kb);
                warm.Add(await client.SubmitNoteAsync(kb, "kbsync-bench", note.Content, note.OperationId, cancellationToken));
                published[kb].Add(note.OperationId);
            }

            await sandbox.WaitForAllFinalAsync(warm, TimeSpan.FromMinutes(3), cancellationToken);

            Report.Progress($"{Name} [{setting}]: the quiet KBs alone, {QuietAloneNotes} notes");
            var alone = await PublishQuietAsync(client, quiet, Note, published, () => false, QuietAloneNotes, cancellationToken);
            var aloneRows = await sandbox.WaitForAllFinalAsync(alone, TimeSpan.FromMinutes(5), cancellationToken);
            results.Add(Result.Of(setting, "quiet KBs alone", aloneRows, []));

            Report.Progress($"{Name} [{setting}]: {options.HolBacklog} notes at {hot}, the quiet KBs going on beside it");
            var hotIds = new List<Guid>();
            var tenth = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var hotDone = false;
            var publishHot = Task.Run(async () =>
            {
                for (var i = 0; i < options.HolBacklog; i++)
                {
                    var note = Note(hot);
                    await client.SubmitNoteAsync(hot, "kbsync-bench", note.Content, note.OperationId, cancellationToken);
                    lock (hotIds)
                    {
                        hotIds.Add(note.OperationId);
                    }

                    if (i + 1 >= options.HolBacklog / 10)
                    {
                        tenth.TrySetResult();
                    }
                }
            }, cancellationToken);
            await tenth.Task.WaitAsync(cancellationToken);
            var beside = PublishQuietAsync(client, quiet, Note, published, () => Volatile.Read(ref hotDone), int.MaxValue, cancellationToken);
            await publishHot;
            lock (published)
            {
                published[hot].AddRange(hotIds);
            }

            var hotRows = await sandbox.WaitForAllFinalAsync(hotIds, TimeSpan.FromMinutes(30), cancellationToken);
            Volatile.Write(ref hotDone, true);
            var besideRows = await sandbox.WaitForAllFinalAsync(await beside, TimeSpan.FromMinutes(5), cancellationToken);
            results.Add(Result.Of(setting, "quiet KBs beside the backlog", besideRows, hotRows));
            foreach (var (phase, rows) in new[] { ("alone", aloneRows), ("beside", besideRows), ("hot", hotRows) })
            {
                foreach (var row in rows)
                {
                    csv.Append(CultureInfo.InvariantCulture, $"\"{setting}\",{phase},{row.KbId},,{row.Id},{row.Status},{row.EndToEndMs:0.#},{row.QueueWaitMs:0.#}\n");
                }
            }

            if (worker.Memory() is { } memory)
            {
                results[^1] = results[^1] with { PeakMiB = memory.PeakMiB };
            }
        }

        var checks = new List<(string Kb, RemoteCheck Check)>();
        foreach (var (kb, ids) in published)
        {
            checks.Add((kb, await RemoteCheck.OfAsync(remotes.PathOf(kb), ids, cancellationToken)));
        }

        File.WriteAllText(context.ResultPath(Name, "notes.csv"), csv.ToString());
        Print(context, layouts, results, checks, loadBefore);
    }

    /// <summary>A quiet note every <see cref="QuietIntervalMs"/>, round robin over the quiet KBs, until <paramref name="stop"/> or <paramref name="count"/>.</summary>
    private static async Task<List<Guid>> PublishQuietAsync(KbSyncClient client, List<string> quiet, Func<string, BenchNote> note, Dictionary<string, List<Guid>> published,
        Func<bool> stop, int count, CancellationToken cancellationToken)
    {
        var ids = new List<Guid>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count && !stop(); i++)
        {
            var kb = quiet[i % quiet.Count];
            var next = note(kb);
            await client.SubmitNoteAsync(kb, "kbsync-bench", next.Content, next.OperationId, cancellationToken);
            ids.Add(next.OperationId);
            lock (published)
            {
                published[kb].Add(next.OperationId);
            }

            var due = TimeSpan.FromMilliseconds(QuietIntervalMs * (i + 1)) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, cancellationToken);
            }
        }

        return ids;
    }

    private void Print(BenchContext context, List<string> layouts, List<Result> results, List<(string Kb, RemoteCheck Check)> checks, string loadBefore)
    {
        var options = context.Options;
        var report = context.Report;
        report.WriteLine($"== {Name} ==");
        report.WriteLine($"One hot KB and {QuietKbs} quiet KBs, all in one partition (fresh KBs and a fresh worker for each setting), local remotes of");
        report.WriteLine($"{KbFiles} files, one kbworker ({context.Settings.WorkerDll}). Quiet KBs: a note every {QuietIntervalMs} ms, round robin: {QuietAloneNotes} alone,");
        report.WriteLine($"then from the moment a tenth of the hot backlog ({options.HolBacklog} notes published one after the other) is published until it is");
        report.WriteLine("all done. End to end = finished - published, ms. Hot notes/s = hot notes / (last hot finished - first hot published).");
        foreach (var layout in layouts)
        {
            report.WriteLine(layout);
        }

        report.WriteLine();
        var table = new TextTable("worker setting", "phase", "quiet notes", "quiet p50", "quiet p95", "quiet max", "hot notes", "hot notes/s", "hot p50", "peak RSS MiB");
        var csv = new StringBuilder("setting,phase,quiet_notes,quiet_failed,quiet_p50_ms,quiet_p95_ms,quiet_max_ms,hot_notes,hot_failed,hot_notes_per_second,hot_p50_ms\n");
        foreach (var r in results)
        {
            table.Row(r.Setting, r.Phase, $"{r.Quiet.Length}{(r.QuietFailed > 0 ? $" ({r.QuietFailed} failed)" : "")}", Fmt.Ms(r.QuietP(0.5)), Fmt.Ms(r.QuietP(0.95)), Fmt.Ms(r.QuietP(1)),
                r.HotNotes == 0 ? "" : $"{r.HotNotes}{(r.HotFailed > 0 ? $" ({r.HotFailed} failed)" : "")}", r.HotNotes == 0 ? "" : Fmt.Rate(r.HotNotesPerSecond),
                r.HotNotes == 0 ? "" : Fmt.Ms(r.HotP50), r.PeakMiB is { } mib ? mib.ToString("N0", CultureInfo.InvariantCulture) : "");
            csv.Append(CultureInfo.InvariantCulture,
                $"\"{r.Setting}\",\"{r.Phase}\",{r.Quiet.Length},{r.QuietFailed},{r.QuietP(0.5):0.#},{r.QuietP(0.95):0.#},{r.QuietP(1):0.#},{r.HotNotes},{r.HotFailed},{r.HotNotesPerSecond:0.###},{r.HotP50:0.#}\n");
        }

        report.Write(table.ToString());
        File.WriteAllText(context.ResultPath(Name, "summary.csv"), csv.ToString());
        report.WriteLine();
        foreach (var setting in results.GroupBy(r => r.Setting))
        {
            var (alone, beside) = (setting.First(), setting.Last());
            report.WriteLine($"[{setting.Key}] quiet p50 beside the backlog / alone: {Fmt.Ratio(beside.QuietP(0.5), alone.QuietP(0.5))}; p95: {Fmt.Ratio(beside.QuietP(0.95), alone.QuietP(0.95))}.");
        }

        var ok = checks.All(c => c.Check.EachOwnCommit && c.Check.OrderKept);
        report.WriteLine($"Every KB: each note its own commit and publish order kept on its remote: {(ok ? "yes" : "NO: " + string.Join("; ", checks.Where(c => !c.Check.OrderKept || !c.Check.EachOwnCommit).Select(c => $"{c.Kb} {c.Check.Verdict}")))}.");
        report.WriteLine($"Load average (1, 5, 15 min) before: {loadBefore}; after: {MachineInfo.LoadAverage()}.");
        report.WriteLine($"Raw data: {Name}-notes.csv (every note), {Name}-summary.csv.");
    }

    private sealed record Result(string Setting, string Phase, double[] Quiet, int QuietFailed, int HotNotes, int HotFailed, double HotNotesPerSecond, double HotP50, double? PeakMiB = null)
    {
        public static Result Of(string setting, string phase, List<OperationRow> quiet, List<OperationRow> hot)
        {
            var hotSeconds = hot.Count == 0 ? 0 : (hot.Max(r => r.FinishedAt ?? r.RequestedAt) - hot.Min(r => r.RequestedAt)).TotalSeconds;
            return new Result(setting, phase, [.. quiet.Where(r => r.Succeeded).Select(r => r.EndToEndMs ?? double.NaN)], quiet.Count(r => !r.Succeeded),
                hot.Count, hot.Count(r => !r.Succeeded), hot.Count == 0 ? 0 : hot.Count(r => r.Succeeded) / hotSeconds,
                hot.Count == 0 ? 0 : Percentile.Of([.. hot.Where(r => r.Succeeded).Select(r => r.EndToEndMs ?? double.NaN)], 0.5));
        }

        public double QuietP(double q) => Percentile.Of(Quiet, q);
    }
}

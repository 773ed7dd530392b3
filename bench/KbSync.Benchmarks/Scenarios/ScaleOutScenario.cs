using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;
using KbSync.Contracts;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #15: workers as if on machines of their own. 1, 2, 4 and 8 worker processes (<c>--scale-workers</c>),
/// each in a cgroup of its own capped at <c>--cpu-per-worker</c> CPUs (<see cref="CpuCaps"/>), over
/// <c>--scale-kbs</c> KBs of 100 files with <c>--scale-notes</c> notes each. The remotes are served over
/// smart HTTP by <c>git http-backend</c> children of this process (<c>--scale-remote http</c>, no added
/// latency) or given as paths (<c>local</c>: the worker then writes the remote's objects itself, inside
/// its cap); the publisher (the .NET client in this process), RabbitMQ and PostgreSQL run outside the
/// caps. The KB ids are chosen so every partition holds the same number of KBs (what many thousands of
/// hashed KBs come to), so the workers' shares of the work differ only by the partitions they own.
/// Every count gets a fresh virtual host, database and set of remotes; its workers are started at once
/// and own their shares before uncounted warm-up rounds of a note per KB (the clones, then as many rounds
/// as give each worker of the largest count <c>--scale-warmup</c> notes, the same for every count) and
/// <c>--scale-rehearsals</c> runs of the measured step. Then <c>--scale-steps</c> measured steps, each once
/// every worker has settled (its CPU near zero: the tiered JIT's second compilation of the hot methods
/// done): the workers are stopped (SIGSTOP), all notes are published (each KB's in order, by several
/// publishing tasks at once), and the workers continue (SIGCONT); the time runs from there to the last
/// note finished, so neither the publisher's speed nor how it shares the machine with the workers is
/// measured. The report compares the counts' median steps.
/// </summary>
public sealed class ScaleOutScenario : IScenario
{
    /// <summary>The issue's targets: at least these multiples of one worker's notes/s.</summary>
    private static readonly Dictionary<int, double> Targets = new() { [4] = 3.5, [8] = 6 };

    private const int KbFiles = 100;
    private const int Publishers = 8;
    private static readonly TimeSpan IdleWindow = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A worker counts as settled after the warm-up when it used at most this share of its cap in each of
    /// <see cref="SettleChecks"/> seconds in a row (0.02 CPU seconds a second at 0.2 CPU, 0.01 at 0.1).
    /// </summary>
    private const double IdleShareOfCap = 0.1;
    private const int SettleChecks = 3;
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(120);
    private (HistorySize AsLeft, HistorySize Compacted)? _historySize;

    public string Name => "scale-out";

    public string Description => "issue #15: 1, 2, 4, 8 workers, each in its own CPU-capped cgroup (stands for separate machines), many KBs; target 4 workers >= 3.5x, 8 >= 6x";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var partitions = Topology.DefaultPartitionCount;
        var condition = options.ScaleRemote == "local" ? new RemoteCondition("local", null) : new RemoteCondition("http", TimeSpan.Zero);
        var kbIds = BalancedKbIds(options.ScaleKbs, partitions);
        var results = new List<Result>();
        var csv = new StringBuilder("workers,step,kb_id,sequence,operation_id,status,worker,published_ms,started_ms,finished_ms,end_to_end_ms,queue_wait_ms,lock_wait_ms,git_ms\n");
        string capsLine;
        using (var probe = CpuCaps.Create(options.CpuPerWorker))
        {
            capsLine = probe.Description;
        }

        Report.Progress($"{Name}: {capsLine}");
        foreach (var workers in options.ScaleWorkers)
        {
            results.AddRange(await RunAsync(context, condition, kbIds, partitions, workers, csv, cancellationToken));
        }

        File.WriteAllText(context.ResultPath(Name, "notes.csv"), csv.ToString());
        Print(context, results, capsLine, condition, partitions);
    }

    /// <summary>
    /// <paramref name="count"/> KB ids (<c>scale-NNNN</c>, the first names that fit) spread evenly over the
    /// partitions: each holds count / P of them, the first count mod P one more.
    /// </summary>
    internal static List<string> BalancedKbIds(int count, int partitions)
    {
        var perPartition = new int[partitions];
        var ids = new List<string>(count);
        for (var n = 0; ids.Count < count; n++)
        {
            var id = $"scale-{n:0000}";
            var p = Partitioning.PartitionOf(id, partitions);
            var share = count / partitions + (p < count % partitions ? 1 : 0);
            if (perPartition[p] < share)
            {
                perPartition[p]++;
                ids.Add(id);
            }
        }

        return ids;
    }

    private async Task<List<Result>> RunAsync(BenchContext context, RemoteCondition condition, List<string> kbIds, int partitions, int workerCount, StringBuilder csv, CancellationToken cancellationToken)
    {
        var options = context.Options;
        await using var sandbox = await BenchSandbox.CreateAsync(context.Settings, $"{Name}-{workerCount}w", context.RunFolder, options.Keep, cancellationToken);
        await using var remotes = new RemoteHost(Path.Combine(sandbox.Folder, "remotes"), condition);
        var kbs = new List<(string, string)>();
        for (var k = 0; k < kbIds.Count; k++)
        {
            var (url, _) = await remotes.CreateAsync(kbIds[k], KbFiles, seed: 5000 + k, IndexLayout.Monthly, cancellationToken);
            kbs.Add((kbIds[k], url));
        }

        await sandbox.RegisterKbsAsync(kbs, cancellationToken);
        using var caps = CpuCaps.Create(options.CpuPerWorker);
        var host = caps.HostThisProcess();
        var groups = Enumerable.Range(1, workerCount).Select(w => caps.Add($"w{w}")).ToList();
        var started = (await Task.WhenAll(groups.Select(g => sandbox.StartWorkerAsync(g.WorkerId, cancellationToken, launcher: g.Launcher)))).ToList();
        try
        {
            await BenchSandbox.WaitUntilPartitionsSharedAsync(started, partitions, cancellationToken);
            var owned = started.ToDictionary(w => w.Id, w => w.OwnedPartitions);
            var client = await sandbox.StartClientAsync(cancellationToken);

            // warm-up, not counted: the clones, then as many rounds (a note per KB) as give every worker of the
            // largest count --scale-warmup notes, so each has run its code paths at least as often (the JIT). Every
            // count runs the same rounds, so every KB has the same history at each step whatever the count: the
            // worker merges a clone's packs every KbWorker__MaxClonePacks groups, and that merge (several times a
            // group's CPU) then falls in the same step of every count
            var rounds = Math.Max(1, (int)Math.Ceiling((double)options.ScaleWarmup * options.ScaleWorkers.Max() / kbIds.Count));
            for (var round = 0; round < rounds; round++)
            {
                var warm = kbIds.Select((kb, k) => BenchNote.Make(kb, round, new NoteText(9000 + k), context.RunId)).ToList();
                await PublishAsync(client, warm, cancellationToken);
                await sandbox.WaitForAllFinalAsync([.. warm.Select(n => n.OperationId)], TimeSpan.FromMinutes(10), cancellationToken);
            }

            var texts = kbIds.Select((_, k) => new NoteText(7000 + k)).ToList();
            List<BenchNote> Step(int index) => [.. Enumerable.Range(1, options.ScaleNotes).SelectMany(i => kbIds.Select((kb, k) => BenchNote.Make(kb, rounds + index * options.ScaleNotes + i, texts[k], context.RunId)))];

            // the rest of the warm-up, not counted: the measured step itself, rehearsed. The rounds above run
            // groups of one note; a step's deep queues run groups of many (other code paths, first compiled
            // here, and compiled again by the tiered JIT once hot): each worker pays that once, so without a
            // rehearsal the measured window holds a cost per worker, which grows with their count
            for (var rehearsal = 0; rehearsal < options.ScaleRehearsals; rehearsal++)
            {
                var rehearsed = Step(rehearsal);
                await PublishWhileStoppedAsync(started, client, rehearsed, cancellationToken);
                await sandbox.WaitForAllFinalAsync([.. rehearsed.Select(n => n.OperationId)], TimeSpan.FromMinutes(10), cancellationToken);
            }

            // the measured steps, each after the workers have settled: every step is the same work, and the median
            // step is what the report compares (one step's window is seconds long; the machine is noisy)
            var results = new List<Result>();
            for (var step = 0; step < options.ScaleSteps; step++)
            {
                // what the warm-up left is done first: the runtime compiling the methods it made hot again (tiered JIT,
                // the ".NET Tiered Compilation" thread), seconds of CPU that a 0.2 CPU cap stretches over tens of seconds;
                // a worker that has run for hours has long paid it. Then what the workers spend doing nothing (timers, heartbeats).
                var (settleSeconds, idlePercent, settled) = await SettleAsync(groups, caps.CpusPerWorker, cancellationToken);
                if (!settled)
                {
                    Report.Progress($"{Name} [{workerCount} worker(s), step {step + 1}]: NOT settled after {settleSeconds:N0} s (idle CPU {idlePercent:N1} % per worker): the window includes that work");
                }

                var notes = Step(options.ScaleRehearsals + step);
                Report.Progress($"{Name} [{workerCount} worker(s), {caps.CpusPerWorker:0.##} CPU each, step {step + 1} of {options.ScaleSteps}]: publishing {notes.Count} notes");
                var publishSeconds = await PublishWhileStoppedAsync(started, client, notes, cancellationToken);
                var continued = DateTime.UtcNow;
                var cpuBefore = groups.Select(g => g.CpuSeconds()).ToList();
                var throttledBefore = groups.Select(g => g.ThrottledSeconds()).ToList();
                var hostBefore = host.CpuSeconds();
                var meter = CpuMeter.Start(started.Select(w => w.ProcessId));
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken); // the queues are deep: a count now shows what the workers hold
                var connections = await sandbox.DatabaseConnectionsAsync(cancellationToken);
                var ids = notes.Select(n => n.OperationId).ToList();
                CpuUse? machine = null;
                var load = "";
                List<double> cpu = [], throttled = [];
                var hostCpu = double.NaN;
                var rows = await sandbox.WaitForAllFinalAsync(ids, TimeSpan.FromMinutes(20), cancellationToken, allFinal: () =>
                {
                    // the counters when the last note is seen final, not after the rows are read
                    machine = meter.Stop();
                    load = MachineInfo.LoadAverage();
                    cpu = [.. groups.Select((g, i) => g.CpuSeconds() - cpuBefore[i])];
                    throttled = [.. groups.Select((g, i) => g.ThrottledSeconds() - throttledBefore[i])];
                    hostCpu = host.CpuSeconds() - hostBefore;
                });
                var spread = await sandbox.WorkerSpreadAsync(ids, cancellationToken);
                var first = continued;
                var last = rows.Max(r => r.FinishedAt ?? r.RequestedAt);
                var byId = rows.ToDictionary(r => r.Id);
                foreach (var note in notes)
                {
                    var row = byId[note.OperationId];
                    double Ms(DateTime? t) => t is { } v ? (v - first).TotalMilliseconds : double.NaN;
                    csv.Append(CultureInfo.InvariantCulture,
                        $"{workerCount},{step + 1},{note.KbId},{note.Sequence},{note.OperationId},{row.Status},,{Ms(row.RequestedAt):0.#},{Ms(row.StartedAt):0.#},{Ms(row.FinishedAt):0.#},{row.EndToEndMs:0.#},{row.QueueWaitMs:0.#},{row.LockWaitMs:0.#},{row.GitMs:0.#}\n");
                }

                var ordered = 0;
                foreach (var kb in kbIds)
                {
                    var check = await RemoteCheck.OfAsync(remotes.PathOf(kb), [.. notes.Where(n => n.KbId == kb).Select(n => n.OperationId)], cancellationToken);
                    ordered += check.EachOwnCommit && check.OrderKept ? 1 : 0;
                }

                var perWorker = started.Select((w, i) =>
                {
                    var s = spread.FirstOrDefault(x => x.WorkerId == w.Id);
                    return new WorkerShare(w.Id, owned[w.Id].Count, w.OwnedPartitions.Count, s.Operations, s.Kbs, cpu[i], throttled[i]);
                }).ToList();
                var handOvers = started.Count(w => !w.OwnedPartitions.SequenceEqual(owned[w.Id]));
                var result = new Result(workerCount, step + 1, caps.Capped ? caps.CpusPerWorker : double.NaN, notes.Count, rows.Count(r => !r.Succeeded), (last - first).TotalSeconds, publishSeconds,
                    [.. rows.Where(r => r.Succeeded).Select(r => r.EndToEndMs ?? double.NaN)], rows.Select(r => (r.KbId, r.StartedAt)).Distinct().Count(),
                    perWorker, handOvers, $"{ordered}/{kbIds.Count}", machine!, load, settleSeconds, settled, idlePercent, hostCpu, connections);
                Report.Progress($"{Name} [{workerCount} worker(s), step {step + 1}]: {result.NotesPerSecond:N1} notes/s, {result.CpuPerNoteMs:N2} ms CPU/note, machine {machine!.MachineBusyPercent:N0} % busy, load {load}; " +
                    string.Join(", ", perWorker.Select(w => $"{w.Id} {w.Partitions}p {w.Operations} ops")));
                results.Add(result);
            }

            if (workerCount == options.ScaleWorkers[^1])
            {
                _historySize = (await sandbox.HistorySizeAsync(compact: false, cancellationToken), await sandbox.HistorySizeAsync(compact: true, cancellationToken));
            }

            return results;
        }
        finally
        {
            foreach (var worker in started)
            {
                await worker.DisposeAsync(); // out of their groups before the groups are removed
            }
        }
    }

    /// <summary>
    /// Waits until every worker has settled: its CPU use at most <see cref="IdleShareOfCap"/> of its cap in each of
    /// <see cref="SettleChecks"/> one-second checks in a row, and then over the whole of an <see cref="IdleWindow"/>
    /// too (the runtime's background compiler can pause for seconds and start again); at least one
    /// <see cref="IdleWindow"/> first, at most <see cref="SettleLimit"/>. Returns the seconds waited, the last
    /// window's CPU use per worker (% of a CPU), and whether they settled. Uncapped groups have no CPU counter:
    /// then it waits one <see cref="IdleWindow"/> and reports NaN.
    /// </summary>
    private static async Task<(double Seconds, double IdlePercent, bool Settled)> SettleAsync(List<CpuCaps.CpuCap> groups, double cpusPerWorker, CancellationToken cancellationToken)
    {
        var idleCpu = IdleShareOfCap * cpusPerWorker;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(IdleWindow, cancellationToken);
        var last = groups.Select(g => g.CpuSeconds()).ToList();
        if (last.Any(double.IsNaN))
        {
            return (clock.Elapsed.TotalSeconds, double.NaN, false);
        }

        var idlePercent = double.NaN;
        var quiet = 0;
        while (clock.Elapsed < SettleLimit)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            var now = groups.Select(g => g.CpuSeconds()).ToList();
            quiet = now.Select((c, i) => c - last[i]).All(used => used <= idleCpu) ? quiet + 1 : 0;
            last = now;
            if (quiet < SettleChecks)
            {
                continue;
            }

            await Task.Delay(IdleWindow, cancellationToken);
            now = groups.Select(g => g.CpuSeconds()).ToList();
            var used = now.Select((c, i) => (c - last[i]) / IdleWindow.TotalSeconds).ToList();
            last = now;
            idlePercent = 100 * used.Average();
            if (used.All(u => u <= idleCpu))
            {
                return (clock.Elapsed.TotalSeconds, idlePercent, true);
            }

            quiet = 0;
        }

        return (clock.Elapsed.TotalSeconds, idlePercent, false);
    }

    /// <summary>
    /// Publishes <paramref name="notes"/> while every worker is stopped (SIGSTOP), so every note is in the queues
    /// before any is taken, then lets them continue (SIGCONT); returns the seconds publishing took.
    /// </summary>
    private static async Task<double> PublishWhileStoppedAsync(List<WorkerProcess> workers, KbSync.Producer.Client.KbSyncClient client, List<BenchNote> notes, CancellationToken cancellationToken)
    {
        foreach (var worker in workers)
        {
            worker.Suspend();
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await PublishAsync(client, notes, cancellationToken);
            return clock.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var worker in workers)
            {
                worker.Continue();
            }
        }
    }

    /// <summary>Publishes with <see cref="Publishers"/> tasks at once, each KB's notes by one task in their order (so each KB's order is the list's).</summary>
    private static async Task PublishAsync(KbSync.Producer.Client.KbSyncClient client, List<BenchNote> notes, CancellationToken cancellationToken)
    {
        var kbs = notes.Select(n => n.KbId).Distinct().ToList();
        await Task.WhenAll(Enumerable.Range(0, Publishers).Select(async p =>
        {
            var mine = kbs.Where((_, i) => i % Publishers == p).ToHashSet();
            foreach (var note in notes.Where(n => mine.Contains(n.KbId)))
            {
                await client.SubmitNoteAsync(note.KbId, "kbsync-bench", note.Content, note.OperationId, cancellationToken);
            }
        }));
    }

    private void Print(BenchContext context, List<Result> results, string capsLine, RemoteCondition condition, int partitions)
    {
        var options = context.Options;
        var report = context.Report;
        report.WriteLine($"== {Name} ==");
        report.WriteLine($"CPU caps: {capsLine}.");
        report.WriteLine($"{options.ScaleKbs} KBs ({KbFiles} files each; ids chosen so each of the {partitions} partitions holds {options.ScaleKbs / partitions}{(options.ScaleKbs % partitions > 0 ? "-" + (options.ScaleKbs / partitions + 1) : "")}) x {options.ScaleNotes} notes,");
        report.WriteLine($"published by {Publishers} publishing tasks (each KB's notes by one, in order) after uncounted warm-up notes (a note per KB, then");
        report.WriteLine($"rounds of one until each worker has had {options.ScaleWarmup}, one round at a time, then {options.ScaleRehearsals} uncounted rehearsal(s) of the measured step), while the workers were");
        report.WriteLine("stopped (SIGSTOP); measured from the workers' SIGCONT to the last note finished ('publish s': how long publishing took, not measured).");
        report.WriteLine($"Remotes: {(condition.OverHttp ? "smart HTTP, git http-backend children of the benchmark process (outside the caps), no added latency" : "bare repositories by path: the worker writes the remote's objects itself, inside its cap")}.");
        report.WriteLine("Outside the caps: the publisher and the remotes (this process and its children, in an uncapped group of a worker's weight: 'bench ms/note'),");
        report.WriteLine($"RabbitMQ, PostgreSQL, and every other process on the machine. 'settle s': from the warm-up's end until every worker used at most {IdleShareOfCap:P0} of its cap");
        report.WriteLine("in each of 3 seconds in a row (what the warm-up left, mostly the tiered JIT compiling hot methods again; at least 5 s, at most 120 s).");
        report.WriteLine("'idle CPU/worker': a worker's CPU use over the next 5 s, with nothing to do.");
        report.WriteLine("notes/s = notes / (last finished - SIGCONT). CPU ms/note = the workers' cgroup CPU time / notes. throttled = seconds the quota held a worker back.");
        report.WriteLine("PG conns = connections to the run's database 1 s after SIGCONT (the benchmark's own polling one included).");
        report.WriteLine("group = the notes of one KB committed and pushed together (history rows sharing started_at). partitions: owned when the publishing began -> at the end.");
        report.WriteLine();
        var table = new TextTable("workers", "step", "CPU cap each", "notes", "failed", "seconds", "publish s", "notes/s", "vs 1 worker", "CPU ms/note", "bench ms/note", "settle s", "idle CPU/worker", "cap used", "throttled s", "notes/group", "e2e p50", "e2e p95", "order kept", "machine busy", "load after", "PG conns", "per worker: partitions, ops, KBs, CPU s");
        var summary = new StringBuilder("workers,step,cpu_per_worker,notes,failed,seconds,publish_seconds,notes_per_second,ratio_to_one_worker,cpu_ms_per_note,bench_cpu_ms_per_note,settle_seconds,idle_cpu_percent_per_worker,cap_used_percent,throttled_seconds,notes_per_group,e2e_p50_ms,e2e_p95_ms,machine_busy_percent,load_after,pg_connections,per_worker\n");
        var medians = results.GroupBy(r => r.Workers).Select(g => new Median(g.Key, [.. g])).ToList();
        var one = medians.FirstOrDefault(m => m.Workers == 1);
        foreach (var r in results)
        {
            var perWorker = string.Join("; ", r.PerWorker.Select(w => $"{w.Id} {w.PartitionsAtStart}{(w.Partitions != w.PartitionsAtStart ? "->" + w.Partitions : "")}p {w.Operations} ops {w.Kbs} KBs {w.CpuSeconds:N1}s"));
            table.Row(r.Workers.ToString(CultureInfo.InvariantCulture), r.Step.ToString(CultureInfo.InvariantCulture), double.IsFinite(r.CpuCap) ? r.CpuCap.ToString("0.##", CultureInfo.InvariantCulture) : "uncapped",
                r.Notes.ToString(CultureInfo.InvariantCulture), r.Failed.ToString(CultureInfo.InvariantCulture), r.Seconds.ToString("N1", CultureInfo.InvariantCulture), r.PublishSeconds.ToString("N1", CultureInfo.InvariantCulture),
                Fmt.Rate(r.NotesPerSecond), one is null ? "-" : Fmt.Ratio(r.NotesPerSecond, one.NotesPerSecond), r.CpuPerNoteMs.ToString("N2", CultureInfo.InvariantCulture),
                (r.HostCpuSeconds * 1000 / r.Notes).ToString("N2", CultureInfo.InvariantCulture), r.SettleSeconds.ToString("N0", CultureInfo.InvariantCulture) + (r.Settled ? "" : " NOT settled"), $"{r.IdlePercent:N1} %",
                double.IsFinite(r.CapUsedPercent) ? $"{r.CapUsedPercent:N0} %" : "-", r.PerWorker.Sum(w => w.ThrottledSeconds).ToString("N1", CultureInfo.InvariantCulture),
                ((double)r.Notes / r.Groups).ToString("N1", CultureInfo.InvariantCulture), Fmt.Ms(r.P(0.5)), Fmt.Ms(r.P(0.95)), r.Order, $"{r.Machine.MachineBusyPercent:N0} %", r.LoadAfter, r.Connections.ToString(CultureInfo.InvariantCulture), perWorker);
            summary.Append(CultureInfo.InvariantCulture,
                $"{r.Workers},{r.Step},{r.CpuCap},{r.Notes},{r.Failed},{r.Seconds:0.###},{r.PublishSeconds:0.###},{r.NotesPerSecond:0.###},{(one is null ? "" : (r.NotesPerSecond / one.NotesPerSecond).ToString("0.###", CultureInfo.InvariantCulture))},{r.CpuPerNoteMs:0.###},{r.HostCpuSeconds * 1000 / r.Notes:0.###},{(r.Settled ? r.SettleSeconds.ToString("0.#", CultureInfo.InvariantCulture) : "not settled")},{r.IdlePercent:0.##},{r.CapUsedPercent:0.#},{r.PerWorker.Sum(w => w.ThrottledSeconds):0.##},{(double)r.Notes / r.Groups:0.##},{r.P(0.5):0.#},{r.P(0.95):0.#},{r.Machine.MachineBusyPercent:0.#},\"{r.LoadAfter}\",{r.Connections},\"{perWorker}\"\n");
        }

        report.Write(table.ToString());
        report.WriteLine();
        report.WriteLine($"Medians of the {options.ScaleSteps} measured step(s) per worker count ('vs 1 worker': median notes/s over the 1-worker median):");
        var mediansTable = new TextTable("workers", "notes/s", "min - max", "vs 1 worker", "CPU ms/note", "cap used", "machine busy", "all settled");
        foreach (var m in medians)
        {
            mediansTable.Row(m.Workers.ToString(CultureInfo.InvariantCulture), Fmt.Rate(m.NotesPerSecond), $"{Fmt.Rate(m.Steps.Min(r => r.NotesPerSecond))} - {Fmt.Rate(m.Steps.Max(r => r.NotesPerSecond))}",
                one is null ? "-" : Fmt.Ratio(m.NotesPerSecond, one.NotesPerSecond), m.CpuPerNoteMs.ToString("N2", CultureInfo.InvariantCulture), double.IsFinite(m.CapUsedPercent) ? $"{m.CapUsedPercent:N0} %" : "-", $"{m.MachineBusyPercent:N0} %", m.Settled ? "yes" : "NO");
            context.Chart.Add("scale-out: notes/s (median step)", $"{m.Steps[0].CpuCap:0.##} CPU/worker", $"{m.Workers} worker{(m.Workers > 1 ? "s" : "")}", m.NotesPerSecond);
        }

        report.Write(mediansTable.ToString());
        File.WriteAllText(context.ResultPath(Name, "summary.csv"), summary.ToString());
        report.WriteLine();
        if (_historySize is var (left, compacted))
        {
            string Line(HistorySize h) => $"{h.Rows} rows, table {h.TableBytes / 1024.0:N0} KiB + {h.Indexes} indexes {h.IndexBytes / 1024.0:N0} KiB = {h.BytesPerRow:N0} bytes per row";
            report.WriteLine($"History (operations table) after the {options.ScaleWorkers[^1]}-worker run: as left, {Line(left)}; after VACUUM FULL, {Line(compacted)}.");
        }

        foreach (var (workers, target) in Targets)
        {
            if (one is not null && medians.FirstOrDefault(m => m.Workers == workers) is { } r)
            {
                var ratio = r.NotesPerSecond / one.NotesPerSecond;
                var unsettled = !one.Settled || !r.Settled ? " (a step did NOT settle: not a valid measurement)" : "";
                report.WriteLine($"Target (issue #15): {workers} workers >= {target:0.0#}x 1 worker's notes/s: {ratio:N2}x, {(ratio >= target ? "met" : "NOT met")}{unsettled}.");
            }
        }
    }

    /// <summary>One worker count's measured steps, and the medians the report compares.</summary>
    private sealed record Median(int Workers, List<Result> Steps)
    {
        public double NotesPerSecond => Of(r => r.NotesPerSecond);

        public double CpuPerNoteMs => Of(r => r.CpuPerNoteMs);

        public double CapUsedPercent => Of(r => r.CapUsedPercent);

        public double MachineBusyPercent => Of(r => r.Machine.MachineBusyPercent);

        public bool Settled => Steps.All(r => r.Settled);

        private double Of(Func<Result, double> value) => Percentile.Of([.. Steps.Select(value)], 0.5);
    }

    private sealed record WorkerShare(string Id, int PartitionsAtStart, int Partitions, long Operations, long Kbs, double CpuSeconds, double ThrottledSeconds);

    private sealed record Result(int Workers, int Step, double CpuCap, int Notes, int Failed, double Seconds, double PublishSeconds, double[] EndToEnd, int Groups,
        List<WorkerShare> PerWorker, int HandOvers, string Order, CpuUse Machine, string LoadAfter, double SettleSeconds, bool Settled, double IdlePercent, double HostCpuSeconds, long Connections)
    {
        public double NotesPerSecond => Notes / Seconds;

        /// <summary>The workers' CPU time per note (their cgroups'; NaN when uncapped).</summary>
        public double CpuPerNoteMs => PerWorker.Sum(w => w.CpuSeconds) * 1000 / Notes;

        /// <summary>The workers' CPU time over what their caps allowed in the measured window.</summary>
        public double CapUsedPercent => 100 * PerWorker.Sum(w => w.CpuSeconds) / (CpuCap * Workers * Seconds);

        public double P(double q) => Percentile.Of(EndToEnd, q);
    }
}

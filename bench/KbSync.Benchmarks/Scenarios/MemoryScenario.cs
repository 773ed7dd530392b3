using System.Globalization;
using System.Text;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Issue #6: the worker's memory with many KBs cloned. One worker, <see cref="BenchOptions.MemoryKbs"/>
/// KBs of 100 files on local remotes, one note each (all published at once, so each KB is cloned and
/// written once); the worker's peak resident set (VmHWM in /proc/&lt;pid&gt;/status) after it started and
/// after every note is final, and its resident set then. Aim: below 300 MB.
/// </summary>
public sealed class MemoryScenario : IScenario
{
    public const double TargetMiB = 300;
    private const int KbFiles = 100;

    public string Name => "memory";

    public string Description => "issue #6: one worker, 100 KBs each cloned (one note per KB), peak RSS (VmHWM) of the worker; aim < 300 MB";

    public bool Diagnostic => false;

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        await using var sandbox = await BenchSandbox.CreateAsync(context.Settings, Name, context.RunFolder, options.Keep, cancellationToken);
        await using var remotes = new RemoteHost(Path.Combine(sandbox.Folder, "remotes"), new RemoteCondition("local", null));
        var kbs = new List<(string, string)>();
        for (var k = 0; k < options.MemoryKbs; k++)
        {
            var id = $"mem-{k:000}";
            kbs.Add((id, (await remotes.CreateAsync(id, KbFiles, seed: 9000 + k, IndexLayout.Monthly, cancellationToken)).Url));
        }

        await sandbox.RegisterKbsAsync(kbs, cancellationToken);
        var worker = await sandbox.StartWorkerAsync("bench", cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var atStart = worker.Memory();
        var client = await sandbox.StartClientAsync(cancellationToken);
        var notes = kbs.Select((kb, k) => BenchNote.Make(kb.Item1, 1, new NoteText(k), context.RunId)).ToList();
        Report.Progress($"{Name}: {notes.Count} KBs, one note each");
        var samples = new List<(double Seconds, double PeakMiB, double RssMiB)>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                if (worker.Memory() is { } m)
                {
                    samples.Add((clock.Elapsed.TotalSeconds, m.PeakMiB, m.CurrentMiB));
                }

                try
                {
                    await Task.Delay(250, sampling.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }, CancellationToken.None);
        foreach (var note in notes)
        {
            await client.SubmitNoteAsync(note.KbId, "kbsync-bench", note.Content, note.OperationId, cancellationToken);
        }

        var rows = await sandbox.WaitForAllFinalAsync([.. notes.Select(n => n.OperationId)], TimeSpan.FromMinutes(15), cancellationToken);
        var took = clock.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        await sampling.CancelAsync();
        await sampler;
        var after = worker.Memory();
        var clones = Path.Combine(sandbox.Folder, "workers", "bench");
        var cloneBytes = Directory.Exists(clones) ? KbSeeder.FolderBytes(clones) : 0;

        var csv = new StringBuilder("seconds,vm_hwm_mib,vm_rss_mib\n");
        foreach (var s in samples)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{s.Seconds:0.###},{s.PeakMiB:0.#},{s.RssMiB:0.#}\n");
        }

        File.WriteAllText(context.ResultPath(Name, "rss.csv"), csv.ToString());
        var report = context.Report;
        report.WriteLine($"== {Name} ==");
        report.WriteLine($"One kbworker, {kbs.Count} KBs of {KbFiles} files on local remotes, one note per KB published at once (each KB cloned once).");
        report.WriteLine("Memory of the worker process from /proc/<pid>/status: VmHWM (peak resident set), VmRSS (resident now).");
        report.WriteLine();
        var table = new TextTable("KBs", "notes ok", "seconds", "VmHWM at start", "VmHWM after all notes", "VmRSS after", "clones on disk");
        table.Row(kbs.Count.ToString(CultureInfo.InvariantCulture), rows.Count(r => r.Succeeded).ToString(CultureInfo.InvariantCulture), took.ToString("N1", CultureInfo.InvariantCulture),
            atStart is { } a ? $"{a.PeakMiB:N0} MiB" : "-", after is { } p ? $"{p.PeakMiB:N0} MiB" : "-", after is { } r2 ? $"{r2.CurrentMiB:N0} MiB" : "-", $"{cloneBytes / 1048576.0:N1} MiB");
        report.Write(table.ToString());
        report.WriteLine();
        if (after is { } peak)
        {
            report.WriteLine($"Aim (issue #6): peak RSS < {TargetMiB:0} MB with {kbs.Count} KBs: {peak.PeakMiB:N0} MiB ({peak.PeakMiB * 1.048576:N0} MB) -> {(peak.PeakMiB * 1.048576 < TargetMiB ? "MET" : "MISSED")}.");
        }

        report.WriteLine("No baseline: the git-CLI writers are short-lived processes, nothing to compare a resident worker with.");
        report.WriteLine($"Raw data: {Name}-rss.csv (VmHWM and VmRSS every 250 ms while the notes ran).");
    }
}

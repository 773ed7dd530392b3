using System.Globalization;
using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;
using KbSync.Benchmarks.Scenarios;

namespace KbSync.Benchmarks;

/// <summary>
/// <c>kbsync-bench [scenario...] [options]</c>: end-to-end benchmarks of the real product, run on
/// demand (<c>./dev bench</c>), never by the tests. See docs/benchmarks.md.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

        BenchOptions options;
        List<IScenario> scenarios;
        try
        {
            options = BenchOptions.Parse(args);
            scenarios = options.Scenarios.Count == 0
                ? [.. ScenarioCatalog.All.Where(s => !s.Diagnostic)]
                : options.Scenarios.Select(n => ScenarioCatalog.Find(n) ?? throw new ArgumentException($"Unknown scenario '{n}' (--list shows them).")).ToList();
        }
        catch (ArgumentException error)
        {
            await Console.Error.WriteLineAsync($"kbsync-bench: {error.Message}\n\n{BenchOptions.Usage}");
            return 2;
        }

        if (options.Help)
        {
            Console.WriteLine(BenchOptions.Usage);
            return 0;
        }

        if (options.List)
        {
            foreach (var scenario in ScenarioCatalog.All)
            {
                Console.WriteLine($"{scenario.Name,-18} {scenario.Description}");
            }

            return 0;
        }

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true; // let the scenario clean up its virtual host, database and worker
            Report.Progress("interrupted: cleaning up");
            cancel.Cancel();
        };

        var settings = new BenchSettings();
        var runId = DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var runFolder = Path.GetFullPath(Path.Combine(options.ResultsRoot ?? Path.Combine(BenchSettings.RepositoryRoot(), "results"), runId));
        Directory.CreateDirectory(runFolder);
        using var report = new Report(Path.Combine(runFolder, "report.txt"));
        try
        {
            settings.EnsureBinaries();
            report.WriteLine($"KbSync benchmarks, run {runId} ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC), results in {runFolder}");
            var machine = await MachineInfo.CollectAsync(settings, cancel.Token);
            foreach (var line in machine.Lines())
            {
                report.WriteLine(line);
            }

            report.WriteLine();
            var context = new BenchContext(settings, options, runFolder, runId, report);
            var failed = new List<string>();
            var runClock = System.Diagnostics.Stopwatch.StartNew();
            foreach (var scenario in scenarios)
            {
                Report.Progress($"scenario {scenario.Name}");
                var clock = System.Diagnostics.Stopwatch.StartNew();
                try
                {
                    await scenario.RunAsync(context, cancel.Token);
                }
                catch (Exception error) when (error is not OperationCanceledException || !cancel.IsCancellationRequested)
                {
                    // one scenario failing does not lose the others' results
                    failed.Add(scenario.Name);
                    report.WriteLine($"== {scenario.Name} FAILED ==");
                    report.WriteLine(error.ToString());
                }

                Report.Progress($"scenario {scenario.Name} took {clock.Elapsed.TotalMinutes:N1} min");
                report.WriteLine();
            }

            try
            {
                var chart = Path.Combine(runFolder, "chart.png");
                if (Chart.Write(context.Chart, chart, $"KbSync benchmarks, run {runId}: KbSync beside the git-CLI baseline (same run)"))
                {
                    report.WriteLine($"Chart: {chart}");
                }
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                report.WriteLine($"Chart not written: {error.Message}");
            }

            report.WriteLine($"Whole run: {runClock.Elapsed.TotalMinutes:N1} min.");
            if (failed.Count > 0)
            {
                await Console.Error.WriteLineAsync($"kbsync-bench: scenario(s) failed: {string.Join(", ", failed)} (see {report.Path}).");
                return 1;
            }

            if (!options.Keep)
            {
                var tmp = Path.Combine(runFolder, "tmp");
                if (Directory.Exists(tmp) && !Directory.EnumerateFileSystemEntries(tmp).Any())
                {
                    Directory.Delete(tmp);
                }
            }

            return 0;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("kbsync-bench: interrupted.");
            return 130;
        }
        catch (Exception error)
        {
            await Console.Error.WriteLineAsync($"kbsync-bench: {error}");
            return 1;
        }
    }
}

using KbSync.Benchmarks.Infrastructure;
using KbSync.Benchmarks.Reporting;

namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// One benchmark scenario. Each run gets its own <see cref="BenchSandbox"/> (virtual host, database,
/// workers), prints its table to the <see cref="BenchContext.Report"/> and writes its raw data next
/// to it. Add a scenario by implementing this and listing it in <see cref="ScenarioCatalog"/>.
/// </summary>
public interface IScenario
{
    /// <summary>The name given on the command line (<c>./dev bench kb-size</c>).</summary>
    string Name { get; }

    /// <summary>One line for <c>--list</c>.</summary>
    string Description { get; }

    /// <summary>A diagnostic runs only when named; <c>./dev bench</c> without names runs the others.</summary>
    bool Diagnostic { get; }

    Task RunAsync(BenchContext context, CancellationToken cancellationToken);
}

/// <summary>What every scenario gets: settings, options, its run folder and the report.</summary>
public sealed record BenchContext(BenchSettings Settings, BenchOptions Options, string RunFolder, string RunId, Report Report)
{
    /// <summary>Bars for the run's chart (results/&lt;run&gt;/chart.png), added by the scenarios that measure notes/s.</summary>
    public ChartData Chart { get; } = new();

    public string ResultPath(string scenario, string file) => Path.Combine(RunFolder, $"{scenario}-{file}");
}

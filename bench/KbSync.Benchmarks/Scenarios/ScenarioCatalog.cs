namespace KbSync.Benchmarks.Scenarios;

/// <summary>
/// Every scenario; a run without names runs the non-diagnostic ones in this order. Issue #6 adds: burst at one KB,
/// many KBs, overhead, added latency and a baseline of git-CLI writers.
/// </summary>
public static class ScenarioCatalog
{
    public static IReadOnlyList<IScenario> All { get; } =
    [
        new AnalyticsScenario(),
        new StatsApiScenario(),
        new KbSizeScenario(),
        new KbSizeScenario(slowRemote: true),
        new BurstScenario(),
        new ManyKbsScenario(),
        new ScaleOutScenario(),
        new OverheadScenario(),
        new MemoryScenario(),
        new KbSizeStepsScenario(),
        new QueueBacklogScenario(),
        new HeadOfLineScenario(),
    ];

    /// <summary>Other names a scenario answers to (<c>./dev bench analytics</c>, as OperationAnalytics.cs says).</summary>
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase) { ["analytics"] = "analytics-1m" };

    public static IScenario? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, Aliases.GetValueOrDefault(name, name), StringComparison.OrdinalIgnoreCase));
}

namespace KbSync.Benchmarks.Reporting;

/// <summary>One bar: a panel (e.g. "burst at one KB, notes/s"), a group in it (a condition), the series (KbSync, baseline) and its value.</summary>
public sealed record ChartBar(string Panel, string Group, string Series, double Value);

/// <summary>The bars the scenarios of a run collect for <see cref="Chart"/>.</summary>
public sealed class ChartData
{
    private readonly List<ChartBar> _bars = [];
    private readonly Lock _gate = new();

    public void Add(string panel, string group, string series, double value)
    {
        lock (_gate)
        {
            _bars.Add(new ChartBar(panel, group, series, value));
        }
    }

    public IReadOnlyList<ChartBar> Bars
    {
        get
        {
            lock (_gate)
            {
                return [.. _bars];
            }
        }
    }
}

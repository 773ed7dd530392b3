namespace KbSync.Benchmarks.Reporting;

/// <summary>Order statistics of one series of measurements.</summary>
public sealed record Summary(int Count, double Median, double P95, double Min, double Max)
{
    public static Summary Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0
            ? new Summary(0, double.NaN, double.NaN, double.NaN, double.NaN)
            : new Summary(sorted.Length, Quantile(sorted, 0.5), Quantile(sorted, 0.95), sorted[0], sorted[^1]);
    }

    /// <summary>Linear interpolation between the closest ranks (numpy's default, R type 7).</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 1)
        {
            return sorted[0];
        }

        var position = q * (sorted.Count - 1);
        var lower = (int)Math.Floor(position);
        var upper = Math.Min(lower + 1, sorted.Count - 1);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
    }
}

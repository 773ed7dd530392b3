namespace KbSync.Benchmarks.Reporting;

/// <summary>Order statistics of one series of measurements.</summary>
public sealed record Summary(int Count, double Median, double P95, double Min, double Max)
{
    public static Summary Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0
            ? new Summary(0, double.NaN, double.NaN, double.NaN, double.NaN)
            : new Summary(sorted.Length, Percentile.OfSorted(sorted, 0.5), Percentile.OfSorted(sorted, 0.95), sorted[0], sorted[^1]);
    }
}

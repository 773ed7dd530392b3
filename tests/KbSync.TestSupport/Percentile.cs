namespace KbSync.TestSupport;

/// <summary>
/// The one percentile the analytics are checked against and the benchmarks report: rank q(n-1) in
/// the sorted values, linear interpolation between its two neighbours. That is PostgreSQL's
/// <c>percentile_cont</c> (what the analytics compute), numpy's default and R's type 7.
/// </summary>
public static class Percentile
{
    /// <summary>The <paramref name="q"/> percentile (0 to 1) of values sorted ascending; there must be at least one.</summary>
    public static double OfSorted(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0)
        {
            throw new ArgumentException("A percentile needs at least one value.", nameof(sorted));
        }

        var rank = q * (sorted.Count - 1);
        var (lower, upper) = ((int)Math.Floor(rank), (int)Math.Ceiling(rank));
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - lower);
    }

    /// <summary>The <paramref name="q"/> percentile of the finite values (NaN and infinities, a failed measurement, are left out); NaN when there are none.</summary>
    public static double Of(IEnumerable<double> values, double q)
    {
        var sorted = values.Where(double.IsFinite).Order().ToArray();
        return sorted.Length == 0 ? double.NaN : OfSorted(sorted, q);
    }
}

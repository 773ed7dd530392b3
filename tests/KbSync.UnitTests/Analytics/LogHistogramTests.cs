using KbSync.Persistence.Analytics.Rollups;

namespace KbSync.UnitTests.Analytics;

/// <summary>The rollups' histogram: merging is exact, and every percentile is within the stated relative error of percentile_cont.</summary>
public sealed class LogHistogramTests
{
    [Fact]
    public void Every_value_is_within_the_relative_error_of_its_bin()
    {
        for (var value = 0.0011; value < 1e12; value *= 1.0137)
        {
            var represented = LogHistogram.ValueOf(LogHistogram.BinOf(value));
            Assert.InRange(Math.Abs(represented - value) / value, 0, LogHistogram.RelativeError);
        }

        Assert.Equal(0, LogHistogram.BinOf(0));
        Assert.Equal(0, LogHistogram.BinOf(LogHistogram.MinValueMs));
        Assert.Equal(0, LogHistogram.ValueOf(0));
        Assert.Equal(LogHistogram.MaxBin, LogHistogram.BinOf(double.NaN));
        Assert.Equal(LogHistogram.MaxBin, LogHistogram.BinOf(1e300));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(101, 2)]
    [InlineData(5000, 3)]
    [InlineData(30_000, 4)]
    public void Percentiles_are_within_the_relative_error_of_percentile_cont(int count, int seed)
    {
        var random = new Random(seed);
        // heavy-tailed: lognormal around 50 ms with a few minutes-long waits
        var values = Enumerable.Range(0, count)
            .Select(_ => Math.Exp(Math.Log(50) + 1.8 * Gaussian(random)) * (random.NextDouble() < 0.01 ? 1000 : 1))
            .ToList();
        var histogram = new LogHistogram();
        values.ForEach(v => histogram.Add(v));

        Assert.Equal(count, histogram.Count);
        foreach (var p in new[] { 0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1 })
        {
            var exact = PercentileCont(values, p);
            Assert.InRange(histogram.Percentile(p)!.Value, exact * (1 - LogHistogram.RelativeError), exact * (1 + LogHistogram.RelativeError));
        }

        Assert.InRange(histogram.Max!.Value, values.Max() * (1 - LogHistogram.RelativeError), values.Max() * (1 + LogHistogram.RelativeError));
    }

    [Fact]
    public void Merging_histograms_gives_the_histogram_of_all_their_values_and_subtracting_takes_them_out()
    {
        var random = new Random(7);
        var parts = Enumerable.Range(0, 10).Select(_ => Enumerable.Range(0, 500).Select(_ => random.NextDouble() * 20_000).ToList()).ToList();
        var whole = new LogHistogram();
        parts.SelectMany(p => p).ToList().ForEach(v => whole.Add(v));

        var merged = new LogHistogram();
        foreach (var part in parts)
        {
            var histogram = new LogHistogram();
            part.ForEach(v => histogram.Add(v));
            merged.Merge(histogram);
        }

        Assert.Equal(whole.Bins(), merged.Bins());
        Assert.Equal(whole.Percentile(0.95), merged.Percentile(0.95));

        var last = new LogHistogram();
        parts[^1].ForEach(v => last.Add(v));
        merged.Merge(last, sign: -1);
        var withoutLast = new LogHistogram();
        parts.Take(9).SelectMany(p => p).ToList().ForEach(v => withoutLast.Add(v));
        Assert.Equal(withoutLast.Bins(), merged.Bins());
        Assert.Equal(4500, merged.Count);
    }

    [Fact]
    public void A_histogram_as_PostgreSQL_stores_it_merges_by_its_lower_bound()
    {
        var histogram = new LogHistogram();
        histogram.MergeSent(Sent(600, [2, null, 1]));
        histogram.MergeSent(Sent(601, [3]));

        Assert.Equal(new[] { (600, 2L), (601, 3L), (602, 1L) }, histogram.Bins());
        Assert.Equal(LogHistogram.ValueOf(601), histogram.Percentile(0.5));
    }

    [Fact]
    public void An_empty_histogram_has_no_percentile()
    {
        Assert.Null(new LogHistogram().Percentile(0.5));
        Assert.Null(new LogHistogram().Max);
    }

    private static double PercentileCont(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        var rank = p * (sorted.Count - 1);
        var (lower, upper) = ((int)Math.Floor(rank), (int)Math.Ceiling(rank));
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - lower);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>What PostgreSQL's <c>array_send</c> gives for an <c>int[]</c> with subscripts from <paramref name="lower"/>.</summary>
    private static byte[] Sent(int lower, int?[] counts)
    {
        var bytes = new List<byte>();
        void Int(int value)
        {
            var big = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(big, value);
            bytes.AddRange(big);
        }

        Int(1); // dimensions
        Int(counts.Any(c => c is null) ? 1 : 0); // has nulls
        Int(23); // int4
        Int(counts.Length);
        Int(lower);
        foreach (var count in counts)
        {
            Int(count is null ? -1 : 4);
            if (count is { } value)
            {
                Int(value);
            }
        }

        return [.. bytes];
    }
}

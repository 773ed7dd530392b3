using System.Buffers.Binary;

namespace KbSync.Persistence.Analytics.Rollups;

/// <summary>
/// A mergeable histogram of durations in milliseconds with log-linear bins (DDSketch's mapping):
/// bin <c>b</c> ≥ 1 holds the values in (<see cref="MinValueMs"/>·γ^(b-1), <see cref="MinValueMs"/>·γ^b]
/// with γ = (1 + α) / (1 - α) and α = <see cref="RelativeError"/>, and stands for
/// 2·<see cref="MinValueMs"/>·γ^b / (γ + 1), which is within α of every value in it. Bin 0 holds 0 and
/// everything up to <see cref="MinValueMs"/> (1 µs) and stands for 0.
/// </summary>
/// <remarks>
/// <para>
/// A percentile is worked out as PostgreSQL's <c>percentile_cont</c> does it (rank p(n-1), linear
/// interpolation between the values at the two ranks around it), with each of those two values
/// replaced by its bin's value. Both are within α of the true order statistics, so their weighted
/// mean is within α of <c>percentile_cont</c> over the raw values: relative error at most 1 % for
/// every value above 1 µs (values at or below it count as 0, an absolute error under 1 µs). The
/// maximum is the top bin's value, within 1 % too.
/// </para>
/// <para>
/// Merging is adding counts bin by bin, so histograms of minutes add up to hours, days and any range
/// exactly as the raw values would have binned; removing an operation subtracts its count again.
/// PostgreSQL keeps a histogram as an <c>int[]</c> whose subscripts are the bin numbers (lower bound =
/// the lowest bin used, empty bins NULL: one bit each), maintained by <c>kbsync_hist_bin</c> and
/// <c>kbsync_hist_add</c> (see the AddRollups migration), which compute the same bins as
/// <see cref="BinOf"/>. Measured on this mapping: 115 bins per decade; a day of 111,000 lognormal
/// queue waits fills about 500 bins (2 KB).
/// </para>
/// </remarks>
public sealed class LogHistogram
{
    /// <summary>α: every percentile is within this fraction of the exact one.</summary>
    public const double RelativeError = 0.01;

    /// <summary>Values at or below this (ms) fall into bin 0 and count as 0.</summary>
    public const double MinValueMs = 0.001;

    /// <summary>The highest bin: values past about 10^14 ms (and NaN, which PostgreSQL sorts last) are kept there.</summary>
    public const int MaxBin = 4000;

    /// <summary>γ = (1 + α) / (1 - α).</summary>
    public static readonly double Gamma = (1 + RelativeError) / (1 - RelativeError);

    /// <summary>ln γ, the width of a bin on the log scale. The migration's SQL uses this very double.</summary>
    public static readonly double LnGamma = Math.Log(Gamma);

    private long[]? _counts;
    private int _low = MaxBin + 1;
    private int _high = -1;

    /// <summary>How many values the histogram holds.</summary>
    public long Count { get; private set; }

    /// <summary>The bin of <paramref name="valueMs"/>: 0 for 1 µs and less, then one bin per factor γ.</summary>
    public static int BinOf(double valueMs)
    {
        if (double.IsNaN(valueMs))
        {
            return MaxBin;
        }

        if (valueMs <= MinValueMs)
        {
            return 0;
        }

        var bin = Math.Ceiling(Math.Log(valueMs / MinValueMs) / LnGamma);
        return bin >= MaxBin ? MaxBin : (int)bin;
    }

    /// <summary>The value a bin stands for: within α of every value in it.</summary>
    public static double ValueOf(int bin) =>
        bin <= 0 ? 0 : 2 * MinValueMs * Math.Pow(Gamma, bin) / (Gamma + 1);

    public void Add(double valueMs, long count = 1) => AddToBin(BinOf(valueMs), count);

    /// <summary>Adds <paramref name="count"/> (negative: removes) to one bin.</summary>
    public void AddToBin(int bin, long count)
    {
        if (count == 0)
        {
            return;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(bin);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bin, MaxBin);
        _counts ??= new long[MaxBin + 1];
        _counts[bin] += count;
        Count += count;
        _low = Math.Min(_low, bin);
        _high = Math.Max(_high, bin);
    }

    /// <summary>
    /// Adds a histogram as PostgreSQL stores it, in the array's binary form (<c>array_send</c>): one
    /// dimension, its size and lower bound (the first bin), then each element as a length (-1: NULL, an
    /// empty bin) and a 32-bit count, all big-endian. An empty array (no dimension) adds nothing;
    /// <paramref name="sign"/> -1 subtracts it.
    /// </summary>
    public void MergeSent(ReadOnlySpan<byte> sent, int sign = 1)
    {
        if (BinaryPrimitives.ReadInt32BigEndian(sent) == 0)
        {
            return;
        }

        var size = BinaryPrimitives.ReadInt32BigEndian(sent[12..]);
        var bin = BinaryPrimitives.ReadInt32BigEndian(sent[16..]);
        var at = 20;
        for (var i = 0; i < size; i++, bin++)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(sent[at..]);
            at += 4;
            if (length < 0)
            {
                continue;
            }

            AddToBin(bin, sign * (long)BinaryPrimitives.ReadInt32BigEndian(sent[at..]));
            at += length;
        }
    }

    public void Merge(LogHistogram other, int sign = 1)
    {
        if (other._counts is null)
        {
            return;
        }

        for (var bin = other._low; bin <= other._high; bin++)
        {
            AddToBin(bin, sign * other._counts[bin]);
        }
    }

    /// <summary>Whether any bin holds less than nothing (more taken away than added).</summary>
    public bool HasNegativeBins
    {
        get
        {
            for (var bin = _low; _counts is not null && bin <= _high; bin++)
            {
                if (_counts[bin] < 0)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>Count per non-empty bin, lowest bin first.</summary>
    public IEnumerable<(int Bin, long Count)> Bins()
    {
        for (var bin = _low; _counts is not null && bin <= _high; bin++)
        {
            if (_counts[bin] != 0)
            {
                yield return (bin, _counts[bin]);
            }
        }
    }

    /// <summary>
    /// The <paramref name="p"/>-quantile as <c>percentile_cont(p)</c> computes it over the raw values
    /// (rank p(n-1), linear interpolation), within α; null when empty.
    /// </summary>
    public double? Percentile(double p)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(p, 1);
        if (Count <= 0)
        {
            return null;
        }

        var rank = p * (Count - 1);
        var lower = (long)Math.Floor(rank);
        var upper = (long)Math.Ceiling(rank);
        var low = ValueAtRank(lower);
        var high = upper == lower ? low : ValueAtRank(upper);
        return low + (high - low) * (rank - lower);
    }

    /// <summary>The largest value, within α; null when empty.</summary>
    public double? Max => Count <= 0 ? null : ValueAtRank(Count - 1);

    /// <summary>The value of the <paramref name="rank"/>-th smallest value (0-based): its bin's value.</summary>
    private double ValueAtRank(long rank)
    {
        long seen = 0;
        for (var bin = _low; bin <= _high; bin++)
        {
            seen += _counts![bin];
            if (seen > rank)
            {
                return ValueOf(bin);
            }
        }

        return ValueOf(_high);
    }
}

namespace KbSync.Persistence.Analytics.Rollups;

/// <summary>
/// Values gathered for one percentile figure: rollup histograms merged, plus raw values read from
/// the history for the parts of the range no whole bucket covers. While no rollup contributed (a
/// range shorter than the finest grain it needs), the answer is exact: <c>percentile_cont</c> over the
/// raw values, as the SQL computes it. Once a histogram is merged, the raw values are binned too and
/// the answer is within <see cref="LogHistogram.RelativeError"/>.
/// </summary>
internal sealed class Distribution
{
    private readonly List<double> _raw = [];
    private LogHistogram? _histogram;

    public long Count => (_histogram?.Count ?? 0) + _raw.Count;

    /// <summary>Adds a raw value, or with <paramref name="sign"/> -1 takes one away (binned: it was in a merged histogram).</summary>
    public void Add(double? valueMs, int sign = 1)
    {
        if (valueMs is not { } value)
        {
            return;
        }

        if (sign > 0)
        {
            _raw.Add(value);
        }
        else
        {
            (_histogram ??= new LogHistogram()).Add(value, -1);
        }
    }

    /// <summary>Adds a rollup's histogram, or with <paramref name="sign"/> -1 takes it away.</summary>
    public void Merge(StoredHistogram stored, int sign = 1)
    {
        if (stored.IsEmpty)
        {
            return;
        }

        _histogram ??= new LogHistogram();
        stored.AddTo(_histogram, sign);
    }

    /// <summary>Whether taking parts away left a bin below zero (parts that did not come from one snapshot's rollups).</summary>
    public bool HasNegativeCounts
    {
        get
        {
            if (_histogram is null)
            {
                return false;
            }

            Fold();
            return _histogram.HasNegativeBins;
        }
    }

    public double? Percentile(double p)
    {
        if (_histogram is null)
        {
            return ExactPercentile(p);
        }

        Fold();
        return _histogram.Percentile(p);
    }

    public double? Max()
    {
        if (_histogram is null)
        {
            return _raw.Count == 0 ? null : _raw.Max();
        }

        Fold();
        return _histogram.Max;
    }

    private void Fold()
    {
        foreach (var value in _raw)
        {
            _histogram!.Add(value);
        }

        _raw.Clear();
    }

    /// <summary><c>percentile_cont</c>: rank p(n-1) in the sorted values, interpolated linearly.</summary>
    private double? ExactPercentile(double p)
    {
        if (_raw.Count == 0)
        {
            return null;
        }

        _raw.Sort();
        var rank = p * (_raw.Count - 1);
        var lower = (int)Math.Floor(rank);
        var upper = (int)Math.Ceiling(rank);
        return _raw[lower] + (_raw[upper] - _raw[lower]) * (rank - lower);
    }
}

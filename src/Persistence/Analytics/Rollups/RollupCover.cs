namespace KbSync.Persistence.Analytics.Rollups;

/// <summary>
/// The grains rollups are kept at, in seconds: a minute, an hour and a day, each aligned to
/// multiples of itself since the Unix epoch (UTC: days start at 00:00 UTC whatever the time zone).
/// </summary>
public static class RollupGrains
{
    public const int Minute = 60;
    public const int Hour = 3600;
    public const int Day = 86400;

    /// <summary>Coarsest first: the order <see cref="RollupCover"/> tries them in.</summary>
    public static readonly IReadOnlyList<int> CoarsestFirst = [Day, Hour, Minute];

    /// <summary>The start of the <paramref name="grainSeconds"/> bucket holding <paramref name="at"/> (what SQL's <c>date_bin</c> from the epoch gives).</summary>
    public static DateTimeOffset Floor(DateTimeOffset at, int grainSeconds)
    {
        var ticks = at.UtcTicks - UnixEpochTicks;
        var grain = grainSeconds * TimeSpan.TicksPerSecond;
        var floored = ticks - (((ticks % grain) + grain) % grain);
        return new DateTimeOffset(floored + UnixEpochTicks, TimeSpan.Zero);
    }

    public static DateTimeOffset Ceiling(DateTimeOffset at, int grainSeconds)
    {
        var floor = Floor(at, grainSeconds);
        return floor == at ? floor : floor.AddSeconds(grainSeconds);
    }

    public static bool IsAligned(DateTimeOffset at, int grainSeconds) => Floor(at, grainSeconds) == at;

    private static readonly long UnixEpochTicks = DateTimeOffset.UnixEpoch.UtcTicks;
}

/// <summary>
/// Part of a range: <see cref="Grain"/> seconds of rollup buckets from <see cref="Start"/> (a run of
/// whole, aligned buckets) to <see cref="End"/>, or, with <see cref="Grain"/> 0, a raw part shorter
/// than the finest grain that only the operations' own rows can answer for.
/// </summary>
public readonly record struct RollupPiece(int Grain, DateTimeOffset Start, DateTimeOffset End)
{
    public bool IsRaw => Grain == 0;

    public bool Contains(DateTimeOffset at) => at >= Start && at < End;
}

/// <summary>
/// Cuts a range [from, to) into the fewest rollup pieces: the coarsest whole, aligned buckets that
/// fit, finer ones towards the ends, and at most two raw parts under a minute at the ends. A day
/// range that does not start at midnight is at most 59 minutes, 23 hours, whole days, 23 hours and
/// 59 minutes, read as at most five runs of rows.
/// </summary>
public static class RollupCover
{
    /// <param name="grains">The grains available, any order (the minute must be among them unless raw parts may be long).</param>
    public static IReadOnlyList<RollupPiece> Of(DateTimeOffset from, DateTimeOffset to, IReadOnlyList<int>? grains = null)
    {
        var available = (grains ?? RollupGrains.CoarsestFirst).OrderDescending().ToArray();
        var finest = available[^1];
        var pieces = new List<RollupPiece>();
        if (from >= to)
        {
            return pieces;
        }

        var at = RollupGrains.Ceiling(from, finest);
        var end = RollupGrains.Floor(to, finest);
        if (at >= end)
        {
            pieces.Add(new RollupPiece(0, from, to)); // within one finest bucket, or across one boundary with no whole bucket
            return pieces;
        }

        if (at > from)
        {
            pieces.Add(new RollupPiece(0, from, at));
        }

        while (at < end)
        {
            // the coarsest grain aligned here that still fits
            var grain = available.First(g => RollupGrains.IsAligned(at, g) && at.AddSeconds(g) <= end);
            var next = at.AddSeconds(grain);
            if (pieces.Count > 0 && pieces[^1].Grain == grain && pieces[^1].End == at)
            {
                pieces[^1] = pieces[^1] with { End = next };
            }
            else
            {
                pieces.Add(new RollupPiece(grain, at, next));
            }

            at = next;
        }

        if (end < to)
        {
            pieces.Add(new RollupPiece(0, end, to));
        }

        return pieces;
    }
}

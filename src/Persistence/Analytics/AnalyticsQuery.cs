using KbSync.Contracts;

namespace KbSync.Persistence.Analytics;

/// <summary>
/// What <see cref="OperationAnalytics"/> looks at: one KB (<paramref name="KbId"/>), the KBs of
/// <see cref="KbSet"/>, or all of them (both <c>null</c>), over the half-open range [<paramref name="Since"/>, <paramref name="Until"/>), cut
/// into buckets of <paramref name="Bucket"/> for the per-bucket figures (<c>null</c>: a round size
/// chosen from the range, see <see cref="ResolveBucket"/>).
/// </summary>
/// <remarks>
/// PostgreSQL keeps microseconds: <see cref="Since"/> and <see cref="Until"/> are truncated to whole
/// microseconds (and reported in UTC). Buckets start at <see cref="Since"/>, so the last one is cut
/// short when the range is not a whole number of buckets.
/// </remarks>
public sealed record AnalyticsQuery(string? KbId, DateTimeOffset Since, DateTimeOffset Until, TimeSpan? Bucket = null)
{
    /// <summary>
    /// Only these KBs (with <see cref="KbId"/> null): the KBs a caller may read, so that statistics
    /// over "all KBs" never count another tenant's operations. Empty: none (every figure zero).
    /// Passed as one array parameter, so any number of KBs costs one statement.
    /// </summary>
    public IReadOnlyCollection<string>? KbSet { get; init; }

    /// <summary>
    /// Compute every figure from the raw history rows (<c>percentile_cont</c>, exact maxima) instead
    /// of the rollups, whose percentiles and maxima are within <see cref="Rollups.LogHistogram.RelativeError"/>.
    /// Sorts every value of the range: seconds over millions of operations.
    /// </summary>
    public bool Exact { get; init; }

    /// <summary>The longest range accepted.</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(400);

    public static readonly TimeSpan MinBucket = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MaxBucket = TimeSpan.FromDays(1);

    /// <summary>The most buckets one query may ask for.</summary>
    public const int MaxBuckets = 1000;

    /// <summary>Without an explicit bucket, the one of <see cref="RoundBuckets"/> giving the number of buckets nearest this.</summary>
    public const int TargetBuckets = 48;

    /// <summary>The bucket sizes chosen from when <see cref="Bucket"/> is not given.</summary>
    public static readonly IReadOnlyList<TimeSpan> RoundBuckets =
    [
        TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(30),
        TimeSpan.FromHours(1), TimeSpan.FromHours(3), TimeSpan.FromHours(6), TimeSpan.FromHours(12), TimeSpan.FromDays(1),
    ];

    /// <summary>
    /// The bucket the per-bucket figures use: <see cref="Bucket"/> when given, otherwise the one of
    /// <see cref="RoundBuckets"/> whose number of buckets is nearest <see cref="TargetBuckets"/> by
    /// ratio (an hour in 60 buckets of 1 minute, a day in 48 of 30 minutes, a week in 56 of 3 hours,
    /// long ranges in days). Throws like <see cref="Validate"/>.
    /// </summary>
    public TimeSpan ResolveBucket() => Validate().Bucket;

    /// <summary>How many buckets the range is cut into (the last one may be shorter).</summary>
    public int BucketCount() => Validate().BucketCount;

    /// <summary>
    /// Checks the query and returns it normalised. Throws <see cref="ArgumentException"/> saying what
    /// is wrong: an invalid KB id (in <see cref="KbSet"/> too), both <see cref="KbId"/> and
    /// <see cref="KbSet"/> given, <see cref="Since"/> not before <see cref="Until"/>, a range longer
    /// than <see cref="MaxRange"/>, a bucket outside [<see cref="MinBucket"/>, <see cref="MaxBucket"/>]
    /// or not a whole number of seconds, or more than <see cref="MaxBuckets"/> buckets.
    /// </summary>
    internal AnalyticsWindow Validate()
    {
        if (KbId is not null)
        {
            KbIds.Validate(KbId);
        }

        string[]? kbSet = null;
        if (KbSet is not null)
        {
            if (KbId is not null)
            {
                throw new ArgumentException("Give one KB or a set of KBs, not both.", nameof(KbSet));
            }

            kbSet = KbSet.Distinct(StringComparer.Ordinal).Select(KbIds.Validate).Order(StringComparer.Ordinal).ToArray();
        }

        var since = TruncateToMicroseconds(Since);
        var until = TruncateToMicroseconds(Until);
        if (since >= until)
        {
            throw new ArgumentException($"The range is empty: since ({since:O}) must be before until ({until:O}).", nameof(Since));
        }

        var range = until - since;
        if (range > MaxRange)
        {
            throw new ArgumentException(
                $"The range from {since:O} to {until:O} is {range.TotalDays:0.##} days; at most {MaxRange.TotalDays:0} days can be asked at once.",
                nameof(Until));
        }

        TimeSpan bucket;
        if (Bucket is { } asked)
        {
            if (asked < MinBucket || asked > MaxBucket)
            {
                throw new ArgumentException($"The bucket ({asked}) must be between {MinBucket} and {MaxBucket}.", nameof(Bucket));
            }

            if (asked.Ticks % TimeSpan.TicksPerSecond != 0)
            {
                throw new ArgumentException($"The bucket ({asked}) must be a whole number of seconds.", nameof(Bucket));
            }

            bucket = asked;
        }
        else
        {
            bucket = RoundBuckets.MinBy(b => Math.Abs(Math.Log((double)Count(range, b) / TargetBuckets)));
        }

        var count = Count(range, bucket);
        if (count > MaxBuckets)
        {
            throw new ArgumentException(
                $"A bucket of {bucket} cuts {range.TotalDays:0.##} days into {count} buckets; at most {MaxBuckets} are allowed: choose a bucket of at least {Ceiling(range, MaxBuckets)}.",
                nameof(Bucket));
        }

        return new AnalyticsWindow(KbId, since, until, bucket, (int)count) { KbSet = kbSet, Exact = Exact };
    }

    private static long Count(TimeSpan range, TimeSpan bucket) => (range.Ticks + bucket.Ticks - 1) / bucket.Ticks;

    private static TimeSpan Ceiling(TimeSpan range, int buckets) =>
        TimeSpan.FromSeconds(Math.Ceiling(range.TotalSeconds / buckets));

    private static DateTimeOffset TruncateToMicroseconds(DateTimeOffset value)
    {
        var ticks = value.UtcTicks;
        return new DateTimeOffset(ticks - ticks % 10, TimeSpan.Zero);
    }
}

/// <summary>A validated <see cref="AnalyticsQuery"/>: UTC, whole microseconds, bucket resolved.</summary>
internal sealed record AnalyticsWindow(string? KbId, DateTimeOffset Since, DateTimeOffset Until, TimeSpan Bucket, int BucketCount)
{
    /// <summary>The KBs of <see cref="AnalyticsQuery.KbSet"/>, validated, distinct and sorted; null: not a set.</summary>
    public string[]? KbSet { get; init; }

    /// <summary><see cref="AnalyticsQuery.Exact"/>.</summary>
    public bool Exact { get; init; }

    /// <summary>About how many slots the queue-depth peak search cuts the range into (see <c>AnalyticsSql.QueueDepth</c>).</summary>
    public const int QueueSlots = 20_000;

    /// <summary>The queue-depth search's slot: the range over <see cref="QueueSlots"/>, in whole seconds, at least one.</summary>
    public TimeSpan QueueSlot => TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling((Until - Since).TotalSeconds / QueueSlots)));

    /// <summary>Start of bucket <paramref name="index"/>; the bucket ends at the next start, or at <see cref="Until"/>.</summary>
    public DateTimeOffset BucketStart(int index) => Since + TimeSpan.FromTicks(Bucket.Ticks * index);

    public DateTimeOffset BucketEnd(int index)
    {
        var end = Since + TimeSpan.FromTicks(Bucket.Ticks * (index + 1));
        return end < Until ? end : Until;
    }
}

namespace KbSync.Persistence.Analytics;

/// <summary>
/// How many operations requested in the range are in each status now. Durations everywhere in
/// these records are milliseconds; a percentile is <c>null</c> when there was nothing to measure.
/// </summary>
public sealed record StatusCounts(long Queued, long Running, long Succeeded, long Duplicate, long Failed, long TimedOut)
{
    public long Total => Queued + Running + Succeeded + Duplicate + Failed + TimedOut;

    public static StatusCounts Zero { get; } = new(0, 0, 0, 0, 0, 0);
}

/// <summary>A wait's distribution: <c>percentile_cont</c> (linear interpolation) over <see cref="Samples"/> values.</summary>
public sealed record WaitDistribution(long Samples, double? P50Ms, double? P95Ms, double? P99Ms, double? MaxMs);

/// <summary>
/// Queue wait (request to a worker taking it) and lock wait, over the operations requested in the
/// range that have finished (any outcome).
/// </summary>
public sealed record WaitStats(WaitDistribution QueueWait, WaitDistribution LockWait);

/// <summary>A step's duration: <c>percentile_cont</c> over the <see cref="Samples"/> operations that ran the step.</summary>
public sealed record StepDistribution(long Samples, double? P50Ms, double? P95Ms);

/// <summary>
/// Each step's duration over the operations requested in the range that have finished and ran
/// that step. The worker records 0 for a step it never reached (a duplicate neither commits nor
/// pushes, a failed pull stops there, a KB without a remote never pushes), so 0 counts as "did not
/// run" and is left out rather than dragging the percentiles down.
/// </summary>
public sealed record StepStats(StepDistribution Pull, StepDistribution Process, StepDistribution Commit, StepDistribution Push);

/// <summary>
/// Operations that finished in [<see cref="Start"/>, <see cref="End"/>), by outcome. Every bucket of
/// the range is listed, empty ones with zeros; <see cref="Finished"/> is the sum of the four outcomes.
/// </summary>
public sealed record ThroughputBucket(DateTimeOffset Start, DateTimeOffset End, long Finished, long Succeeded, long Duplicate, long Failed, long TimedOut);

/// <summary>
/// Queue wait and lock wait (p50, p95) of the finished operations requested in
/// [<see cref="Start"/>, <see cref="End"/>): the wait percentiles over time. Every bucket of the
/// range is listed; one with nothing to measure has 0 samples and <c>null</c> percentiles.
/// </summary>
public sealed record WaitBucket(
    DateTimeOffset Start, DateTimeOffset End,
    long QueueWaitSamples, double? QueueWaitP50Ms, double? QueueWaitP95Ms,
    long LockWaitSamples, double? LockWaitP50Ms, double? LockWaitP95Ms);

/// <summary>
/// How many operations were waiting in the queue. An operation is queued from its
/// <c>requested_at</c> (inclusive) until a worker takes it at <c>started_at</c> (exclusive); one
/// that never started is queued until its <c>finished_at</c>, and one with neither is still queued
/// (up to <c>Until</c>). The queue depth at instant <c>t</c> is the number of operations with
/// <c>requested_at &lt;= t &lt; started_at</c>; an operation whose start is not after its request
/// (clocks of producer and worker disagree) is never counted.
/// </summary>
/// <param name="PeakDepth">The largest depth at any instant of [Since, Until).</param>
/// <param name="PeakAt">The first instant the peak was reached; <c>null</c> when the queue was always empty.</param>
/// <param name="MeanDepth">
/// The time-weighted mean depth over [Since, Until): the integral of the depth over the range
/// divided by its length, i.e. the total time operations spent queued inside the range divided by
/// the range's length.
/// </param>
public sealed record QueueContention(long PeakDepth, DateTimeOffset? PeakAt, double MeanDepth);

/// <summary>
/// One requester: <see cref="Operations"/> requested in the range (any status), and the waits of
/// those that have finished.
/// </summary>
public sealed record RequesterWaits(string RequestedBy, long Operations, double? QueueWaitP50Ms, double? QueueWaitP95Ms, double? LockWaitP50Ms);

/// <summary>
/// Everything <see cref="OperationAnalytics"/> computes for one query, from one snapshot of the
/// history. <see cref="KbId"/> is <c>null</c> for all KBs; <see cref="Since"/>, <see cref="Until"/>
/// and <see cref="Bucket"/> are the values actually used (UTC, microseconds, bucket resolved).
/// </summary>
public sealed record KbStats(
    string? KbId,
    DateTimeOffset Since,
    DateTimeOffset Until,
    TimeSpan Bucket,
    StatusCounts Statuses,
    WaitStats Waits,
    StepStats Steps,
    IReadOnlyList<ThroughputBucket> Throughput,
    QueueContention Queue,
    IReadOnlyList<RequesterWaits> Requesters,
    IReadOnlyList<WaitBucket> WaitsOverTime);

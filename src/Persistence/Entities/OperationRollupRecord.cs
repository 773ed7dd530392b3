namespace KbSync.Persistence.Entities;

/// <summary>
/// What the finished operations of one KB (or of every KB: <see cref="KbId"/> empty) add up to in one
/// bucket of <see cref="GrainSeconds"/> (60, 3600 or 86400) starting at <see cref="BucketStart"/>.
/// Kept by triggers on <c>operations</c> (the AddRollups migration): an operation counts here once it
/// is succeeded, duplicate, failed or timed out, and stops counting when its row is deleted or
/// leaves that status. Read by <c>Analytics/Rollups</c>; the raw rows stay the source of truth.
/// </summary>
/// <remarks>
/// Each figure is keyed by its own time: what was requested in the bucket by <c>requested_at</c>,
/// throughput by <c>finished_at</c>, queue exits by the time the operation left the queue. Minute rows
/// keep only what per-bucket figures and the queue-depth search read (throughput, waits, queue arrivals and exits); the columns marked "hour and
/// day" are null in them, which costs one bit each (a minute row of one KB is about 150 bytes).
/// Histograms are <c>int[]</c> whose subscripts are <see cref="Analytics.Rollups.LogHistogram"/> bins.
/// </remarks>
public sealed class OperationRollupRecord
{
    public string KbId { get; set; } = "";
    public int GrainSeconds { get; set; }
    public DateTimeOffset BucketStart { get; set; }

    /// <summary>Finished operations requested in the bucket.</summary>
    public int Requested { get; set; }

    /// <summary>Of those, the ones that waited in the queue (requested before a worker took them, or before they finished unstarted).</summary>
    public int Arrivals { get; set; }

    /// <summary>Finished operations that left the queue in the bucket.</summary>
    public int Exits { get; set; }

    public int FinishedSucceeded { get; set; }
    public int FinishedDuplicate { get; set; }
    public int FinishedFailed { get; set; }
    public int FinishedTimedOut { get; set; }

    /// <summary>Σ (requested_at − bucket start) over <see cref="Arrivals"/>, ms: with it the mean queue depth needs no raw rows.</summary>
    public double ArrivalOffsetMs { get; set; }

    /// <summary>Σ (left the queue − bucket start) over <see cref="Exits"/>, ms.</summary>
    public double ExitOffsetMs { get; set; }

    /// <summary>
    /// Exactly how far the queue rises inside the bucket over its depth just before it (0 if it never
    /// does), counting the finished operations the row holds: minutes (every KB) and hours (per KB, which
    /// have no minutes) from the raw queue events when the row is built or changed, coarser rows from
    /// their parts (max over the parts of the arrivals minus exits before the part plus the part's rise).
    /// Lets the peak search find the peak from the buckets and descend only to where it first occurs.
    /// </summary>
    public int? PeakBound { get; set; }

    public int?[]? QueueWaitBins { get; set; }
    public int?[]? LockWaitBins { get; set; }

    // hour and day rows only

    public int? Succeeded { get; set; }
    public int? Duplicate { get; set; }
    public int? Failed { get; set; }
    public int? TimedOut { get; set; }
    public int? AgentTasks { get; set; }


    public double? QueueWaitSumMs { get; set; }
    public double? LockWaitSumMs { get; set; }
    public double? PullSumMs { get; set; }
    public double? ProcessSumMs { get; set; }
    public double? CommitSumMs { get; set; }
    public double? PushSumMs { get; set; }
    public int?[]? PullBins { get; set; }
    public int?[]? ProcessBins { get; set; }
    public int?[]? CommitBins { get; set; }
    public int?[]? PushBins { get; set; }
}

/// <summary>
/// The requesters of one bucket (hours and days of every KB; days of each KB), as parallel arrays in
/// one row: per requester the finished operations it requested there. One row per bucket rather than
/// per requester: a day of every KB holds about 2,000 requesters, read as one row instead of 2,000 to
/// find the most active ones.
/// </summary>
public sealed class RequesterRollupRecord
{
    public string KbId { get; set; } = "";
    public int GrainSeconds { get; set; }
    public DateTimeOffset BucketStart { get; set; }
    public string[] Requesters { get; set; } = [];
    public int[] Operations { get; set; } = [];
}

/// <summary>
/// One requester's waits in one bucket (the grains of <see cref="RequesterRollupRecord"/>): the
/// histograms of the queue and lock waits of its finished operations requested there. Keyed by
/// requester before bucket, so the waits of the few most active requesters are read by an index
/// range per requester, never the whole bucket.
/// </summary>
public sealed class RequesterWaitsRecord
{
    public string KbId { get; set; } = "";
    public int GrainSeconds { get; set; }
    public string RequestedBy { get; set; } = "";
    public DateTimeOffset BucketStart { get; set; }

    /// <summary>How many finished operations the histograms hold (the row is deleted at 0).</summary>
    public int Finished { get; set; }

    public int?[]? QueueWaitBins { get; set; }
    public int?[]? LockWaitBins { get; set; }
}

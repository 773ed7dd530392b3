using KbSync.Contracts;

namespace KbSync.Persistence.Analytics.Rollups;

/// <summary>
/// The columns of one history row the statistics read, for the parts of a range no rollup bucket
/// covers whole (and for operations still queued or running, which rollups do not hold). Each time
/// is where the row counts, exactly as the triggers put it in a bucket.
/// </summary>
internal sealed record RawOperation(
    Guid Id,
    string KbId,
    OperationKind Kind,
    OperationStatus Status,
    string RequestedBy,
    DateTimeOffset RequestedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    double? QueueWaitMs,
    double? LockWaitMs,
    double? PullMs,
    double? ProcessMs,
    double? CommitMs,
    double? PushMs)
{
    /// <summary>Succeeded, duplicate, failed or timed out: what the rollups hold.</summary>
    public bool IsFinal => Status.IsFinal();

    /// <summary>Finished (<c>finished_at</c> set): its waits and steps count.</summary>
    public bool HasFinished => FinishedAt is not null;

    /// <summary>
    /// When it left the queue (a worker took it, or it finished without starting), if after its
    /// request; null while still queued, or when it was never queued (its clocks disagree).
    /// </summary>
    public DateTimeOffset? LeftQueueAt => (StartedAt ?? FinishedAt) is { } left && RequestedAt < left ? left : null;

    /// <summary>It waited in the queue: it is queued from its request until <see cref="LeftQueueAt"/> (forever, while still queued).</summary>
    public bool WasQueued => (StartedAt ?? FinishedAt) is not { } left || RequestedAt < left;
}

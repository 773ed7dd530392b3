namespace KbSync.Persistence.Entities;

/// <summary>
/// A partition whose requests wait because a run of it keeps failing: a service KbSync depends on is
/// not answering, or a request fails for a reason the worker cannot place (and is retried a bounded
/// number of times). The row exists only while the pause lasts; the queue view shows it.
/// </summary>
public sealed class PartitionPauseRecord
{
    public int Partition { get; set; }

    /// <summary>The worker that owns the partition and is retrying.</summary>
    public string WorkerId { get; set; } = "";

    /// <summary>The KB whose requests are being retried (its partition's other KBs wait behind them).</summary>
    public string KbId { get; set; } = "";

    public DateTimeOffset Since { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>Why, as a user reads it ("PostgreSQL is not answering: …").</summary>
    public string Reason { get; set; } = "";

    public int Attempts { get; set; }
}

namespace KbSync.Persistence.Entities;

/// <summary>
/// One partition layout (<see cref="Contracts.PartitionLayout"/>): from <see cref="ChangedAt"/> on, requests
/// are meant to be routed over <see cref="Partitions"/> partitions. The live layouts are those not retired;
/// the newest of them is the current one, and an older live one is being drained into it.
/// </summary>
public sealed class PartitionLayoutRecord
{
    public int Epoch { get; set; }
    public int Partitions { get; set; }
    public DateTimeOffset ChangedAt { get; set; }

    /// <summary>When its queues were deleted (<c>kbsync partitions retire</c>); null while live.</summary>
    public DateTimeOffset? RetiredAt { get; set; }
}

/// <summary>
/// A partition of an older layout whose queue was found empty after the change: from then on its owner
/// forwards whatever still arrives there to the current layout, and the current layout's partitions that
/// take its KBs may start.
/// </summary>
public sealed class PartitionDrainRecord
{
    public int Epoch { get; set; }
    public int Partition { get; set; }
    public DateTimeOffset DrainedAt { get; set; }
    public string WorkerId { get; set; } = "";
}

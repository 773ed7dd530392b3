using KbSync.Contracts;
using KbSync.Persistence.Partitions;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>
/// This worker's latest reading of the partition layouts (<see cref="PartitionLayouts"/>), refreshed by
/// <see cref="PartitionOwnership"/> at every balance, read by whatever needs a partition's count between
/// two readings (the sequencers' check that a request was routed to its KB's partition).
/// </summary>
public sealed class LiveLayouts(PartitionLayouts layouts, IOptions<RabbitMqOptions> rabbit)
{
    private volatile LayoutSet? _latest;

    /// <summary>The last reading; before the first one, the first layout as this worker's settings give it.</summary>
    public LayoutSet Latest => _latest ?? new LayoutSet([new PartitionLayout(PartitionLayout.FirstEpoch, rabbit.Value.Partitions)], new HashSet<(int, int)>());

    public async Task<LayoutSet> RefreshAsync(CancellationToken cancellationToken)
    {
        var set = await layouts.ReadAsync(rabbit.Value.Partitions, cancellationToken);
        _latest = set;
        return set;
    }

    /// <summary>Records a drained partition of an older layout, and reads the layouts again.</summary>
    public async Task MarkDrainedAsync(PartitionLayout layout, int index, string workerId, CancellationToken cancellationToken)
    {
        await layouts.MarkDrainedAsync(layout, index, workerId, cancellationToken);
        await RefreshAsync(cancellationToken);
    }

    /// <summary>
    /// Null if a KB's request delivered from the partition with this key was routed to the KB's partition
    /// of the layout the queue belongs to; else why not, in words.
    /// </summary>
    public string? Misrouted(string kbId, int key)
    {
        var latest = Latest;
        var count = latest.CountOfKey(key) ?? rabbit.Value.Partitions;
        var index = key >= PartitionLayout.KeyStride ? key % PartitionLayout.KeyStride : key;
        var expected = Partitioning.PartitionOf(kbId, count);
        return expected == index ? null
            : $"KB '{kbId}' belongs to partition {expected} of {count}, but the request was routed to partition {index} of the queue for {count} partitions: route with FNV-1a over the partition count the routing key names (docs/wire-format.md).";
    }
}

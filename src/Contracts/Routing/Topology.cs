namespace KbSync.Contracts;

/// <summary>
/// The broker objects every producer and worker agree on (docs/wire-format.md explains them):
/// one durable direct exchange for requests, one quorum queue per partition bound to it with the
/// partition number as routing key, and one fanout exchange per result event.
/// </summary>
public static class Topology
{
    public const string RequestsExchange = "kbsync.requests";
    public const string CompletedExchange = "kbsync.operation-completed";
    public const string FailedExchange = "kbsync.operation-failed";

    /// <summary>Gets a copy of every request (bound with every partition's key), so requests are recorded as queued whoever published them.</summary>
    public const string QueuedTapQueue = "kbsync-queued-tap";

    public const int DefaultPartitionCount = 16;

    public static string RoutingKey(int partition) => partition.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public const string PartitionQueuePrefix = "kb-partition-";

    public static string PartitionQueue(int partition) => $"{PartitionQueuePrefix}{partition:D2}";

    /// <summary>The partition a queue name (or an address ending in it) stands for.</summary>
    public static bool TryParsePartitionQueue(string queueOrAddress, out int partition)
    {
        var name = queueOrAddress[(queueOrAddress.LastIndexOf('/') + 1)..];
        partition = -1;
        return name.StartsWith(PartitionQueuePrefix, StringComparison.Ordinal) &&
               int.TryParse(name.AsSpan(PartitionQueuePrefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out partition);
    }
}

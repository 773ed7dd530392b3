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

    /// <summary>
    /// The queue tap: gets a copy of every request (bound to <see cref="RequestsExchange"/> with every
    /// partition's key) and every <see cref="RefusedRoutingKey"/> notice, so requests are recorded as
    /// queued, in the broker's order, whoever published them. A quorum queue with single active
    /// consumer: one process at a time reads it, in order (any worker or API process).
    /// </summary>
    public const string QueueTapQueue = "kbsync-queue-tap";

    /// <summary>
    /// The tap of earlier versions (no single active consumer, no order). Nothing binds it any more; the
    /// queue tap deletes it when no one reads it, or it would keep a copy of every request forever.
    /// </summary>
    public const string LegacyQueuedTapQueue = "kbsync-queued-tap";

    /// <summary>
    /// The routing key, on <see cref="RequestsExchange"/>, of a <see cref="RequestRefused"/> notice: only
    /// the queue tap is bound with it, never a partition queue.
    /// </summary>
    public const string RefusedRoutingKey = "refused";

    public const int DefaultPartitionCount = 16;

    /// <summary>Requests a partition queue holds before the broker refuses more: about an hour of one busy partition at 25 notes/s.</summary>
    public const int DefaultMaxQueueLength = 100_000;

    /// <summary>The plain routing key of the first layout's partition (<see cref="PartitionLayout"/>): the number alone, as producers always used it.</summary>
    public static string RoutingKey(int partition) => partition.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The routing key of partition <paramref name="partition"/> when requests are spread over <paramref name="partitions"/>:
    /// <c>P.N</c>, as <c>64.7</c>. Every live layout's partitions are bound with it, so a producer needs only its partition count.
    /// </summary>
    public static string LayoutRoutingKey(int partitions, int partition) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{partitions}.{partition}");

    public const string PartitionQueuePrefix = "kb-partition-";

    public static string PartitionQueue(int partition) => $"{PartitionQueuePrefix}{partition:D2}";

    /// <summary>
    /// The arguments every partition queue is declared with, by the workers' own declaration and by
    /// MassTransit's alike (RabbitMQ refuses a second declaration whose arguments differ): a quorum
    /// queue with single active consumer, and, when <paramref name="maxLength"/> is above 0, at most
    /// that many requests waiting; past it the broker refuses new ones (a negative publisher confirm)
    /// rather than growing without bound.
    /// </summary>
    public static IReadOnlyDictionary<string, object> PartitionQueueArguments(int maxLength)
    {
        var arguments = OrderedQueueArguments();
        if (maxLength > 0)
        {
            arguments["x-max-length"] = maxLength;
            arguments["x-overflow"] = "reject-publish";
        }

        return arguments;
    }

    /// <summary>The arguments of the <see cref="QueueTapQueue"/>: a quorum queue with single active consumer, with no length limit.</summary>
    public static IReadOnlyDictionary<string, object> QueueTapArguments() => OrderedQueueArguments();

    /// <summary>A queue read in order by one consumer at a time: a quorum queue (FIFO that survives a broker restart) with single active consumer.</summary>
    private static Dictionary<string, object> OrderedQueueArguments() => new() { ["x-queue-type"] = "quorum", ["x-single-active-consumer"] = true };

    /// <summary>
    /// The partition key (<see cref="PartitionLayout.Key"/>) a queue name (or an address ending in it) stands
    /// for: <c>kb-partition-07</c> is 7 (the first layout), <c>kb-partition-64-07</c> is 640007.
    /// </summary>
    public static bool TryParsePartitionQueue(string queueOrAddress, out int partition)
    {
        var name = queueOrAddress[(queueOrAddress.LastIndexOf('/') + 1)..];
        partition = -1;
        if (!name.StartsWith(PartitionQueuePrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = name.AsSpan(PartitionQueuePrefix.Length);
        var dash = rest.IndexOf('-');
        if (dash < 0)
        {
            return TryParseNumber(rest, out partition) && partition < PartitionLayout.MaxCount;
        }

        if (TryParseNumber(rest[..dash], out var count) && count is >= 1 and <= PartitionLayout.MaxCount &&
            TryParseNumber(rest[(dash + 1)..], out var index) && index < count)
        {
            partition = count * PartitionLayout.KeyStride + index;
            return true;
        }

        return false;
    }

    private static bool TryParseNumber(ReadOnlySpan<char> text, out int value) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);
}

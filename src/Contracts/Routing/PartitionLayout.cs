using System.Globalization;

namespace KbSync.Contracts;

/// <summary>
/// How requests are spread over partition queues at one time: <see cref="Count"/> partitions (P), a
/// KB in partition <c>fnv1a32(utf8(kbId)) % P</c>. Layouts are numbered by <see cref="Epoch"/>: the
/// first one (<see cref="FirstEpoch"/>) keeps the queue names KbSync always had (<c>kb-partition-NN</c>), and
/// a later one names its count in them (<c>kb-partition-64-NN</c>), so two live layouts never share a queue
/// and a request says by its queue which layout routed it. Every layout's partition is bound with the key
/// <c>P.N</c> (<see cref="RoutingKey"/>), which a producer computes from its partition count alone; the first
/// layout's also with the plain <c>N</c> producers always used (<see cref="RoutingKeys"/>). Two live layouts
/// never have the same count (<c>kbsync partitions change</c> refuses it), so no key routes to both.
/// PostgreSQL keeps which layouts are live (<c>kbsync partitions</c>); README, <i>Changing the partition count</i>.
/// </summary>
public sealed record PartitionLayout(int Epoch, int Count)
{
    public const int FirstEpoch = 1;

    /// <summary>The most partitions a layout may have: past it the numbers of <see cref="Key"/> would collide, and no deployment needs as many quorum queues.</summary>
    public const int MaxCount = 1024;

    /// <summary>Partition keys of a later layout are <c>Count * KeyStride + index</c>: apart from the first layout's (0 … <see cref="MaxCount"/> - 1) and from each other.</summary>
    public const int KeyStride = 10_000;

    /// <summary>The first layout, with the names producers knew before layouts could change.</summary>
    public bool Original => Epoch == FirstEpoch;

    public int PartitionOf(string kbId) => Partitioning.PartitionOf(kbId, Count);

    public string Queue(int index) => Original
        ? $"{Topology.PartitionQueuePrefix}{index:D2}"
        : $"{Topology.PartitionQueuePrefix}{Count.ToString(CultureInfo.InvariantCulture)}-{index:D2}";

    /// <summary>The key producers route with: <c>P.N</c> (<see cref="Topology.LayoutRoutingKey"/>).</summary>
    public string RoutingKey(int index) => Topology.LayoutRoutingKey(Count, index);

    /// <summary>Every key the partition is bound with: <see cref="RoutingKey"/>, and for the first layout the plain number too.</summary>
    public IEnumerable<string> RoutingKeys(int index) => Original ? [RoutingKey(index), Topology.RoutingKey(index)] : [RoutingKey(index)];

    /// <summary>Every key of every partition of the layout.</summary>
    public IEnumerable<string> AllRoutingKeys => Enumerable.Range(0, Count).SelectMany(RoutingKeys);

    /// <summary>
    /// The number this layout's partition goes by inside a worker (sequencers, ownership locks, pauses,
    /// logs): the index itself for the first layout, so nothing changes for it, and
    /// <c>Count * KeyStride + index</c> for a later one (partition 7 of 64 is 640007). The queue's name gives it
    /// back (<see cref="Topology.TryParsePartitionQueue"/>).
    /// </summary>
    public int Key(int index) => Original ? index : Count * KeyStride + index;

    /// <summary>Every partition's key, in index order.</summary>
    public IEnumerable<int> Keys => Enumerable.Range(0, Count).Select(Key);

    /// <summary>The index of one of this layout's keys, or -1 if the key is another layout's.</summary>
    public int IndexOf(int key)
    {
        var index = Original ? key : key - Count * KeyStride;
        return index >= 0 && index < Count && (Original ? key < KeyStride : key >= KeyStride) ? index : -1;
    }

    /// <summary>
    /// The partitions of <paramref name="older"/> that can hold KBs of this layout's partition
    /// <paramref name="index"/>: a hash h is in partition h mod P of one and h mod Q of the other, and
    /// those two can meet exactly when they agree modulo gcd(P, Q). From 16 to 64 that is partition
    /// index mod 16 alone; from 64 to 16, four partitions; between counts with no common factor, all.
    /// </summary>
    public IReadOnlyList<int> SourcesIn(PartitionLayout older, int index)
    {
        var common = Gcd(Count, older.Count);
        return Enumerable.Range(0, older.Count).Where(i => i % common == index % common).ToList();
    }

    /// <summary>Checks a count before it becomes a layout.</summary>
    /// <exception cref="ArgumentException">Below 1 or above <see cref="MaxCount"/> (the message is one line, naming <paramref name="name"/>).</exception>
    public static int CheckCount(int count, string name)
    {
        if (count is < 1 or > MaxCount)
        {
            throw new ArgumentException($"{name} must be a whole number from 1 to {MaxCount}, not {count}.");
        }

        return count;
    }

    public override string ToString() => $"epoch {Epoch.ToString(CultureInfo.InvariantCulture)}, {Count.ToString(CultureInfo.InvariantCulture)} partitions";

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}

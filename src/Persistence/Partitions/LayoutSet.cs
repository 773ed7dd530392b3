using KbSync.Contracts;

namespace KbSync.Persistence.Partitions;

/// <summary>What a worker does with one partition it owns, as the live layouts say (<see cref="LayoutSet.RoleOf"/>).</summary>
public enum PartitionRole
{
    /// <summary>The key is no live layout's (its layout was retired): let it go.</summary>
    Gone,

    /// <summary>Consume and run its requests: a partition of the current layout whose sources are drained, or an older layout's partition not yet drained.</summary>
    Process,

    /// <summary>A partition of an older layout, drained once: forward what arrives to the current layout, in order.</summary>
    Forward,

    /// <summary>A partition of the current layout that an older layout's undrained partition may still hold KBs of: not consumed yet.</summary>
    Wait,
}

/// <summary>
/// The live partition layouts, oldest first (the last is the current one), and which partitions of the
/// older ones have been drained. Every decision of a change of layout is made here, from this state
/// alone, so that every worker makes the same one:
/// <list type="bullet">
/// <item>an older layout's partition runs its requests in place until its queue has been found empty
/// once, and from then on forwards whatever still arrives (producers routing with the old count);</item>
/// <item>a current partition is consumed only once every older partition that can hold its KBs
/// (<see cref="PartitionLayout.SourcesIn"/>) is drained, so nothing of its KBs that reached the old
/// queues before that point runs after anything that reached the new one.</item>
/// </list>
/// </summary>
public sealed record LayoutSet(IReadOnlyList<PartitionLayout> Live, IReadOnlySet<(int Epoch, int Partition)> Drained)
{
    public PartitionLayout Current => Live[^1];

    /// <summary>The layout being drained into the current one, if a change is under way (at most one: a change waits for the older layout's retirement).</summary>
    public PartitionLayout? Draining => Live.Count > 1 ? Live[^2] : null;

    /// <summary>Every live partition's key: the units the workers share.</summary>
    public IEnumerable<int> Keys => Live.SelectMany(l => l.Keys);

    /// <summary>The live layout a key belongs to, and its index there.</summary>
    public (PartitionLayout Layout, int Index)? Find(int key) =>
        Live.Select(l => (Layout: l, Index: l.IndexOf(key))).Where(f => f.Index >= 0).Select(f => ((PartitionLayout, int)?)f).FirstOrDefault();

    public bool IsDrained(PartitionLayout layout, int index) => Drained.Contains((layout.Epoch, index));

    public PartitionRole RoleOf(int key)
    {
        if (Find(key) is not var (layout, index))
        {
            return PartitionRole.Gone;
        }

        if (layout != Current)
        {
            return IsDrained(layout, index) ? PartitionRole.Forward : PartitionRole.Process;
        }

        return Draining is { } older && Current.SourcesIn(older, index).Any(i => !IsDrained(older, i)) ? PartitionRole.Wait : PartitionRole.Process;
    }

    /// <summary>Whether every partition of the layout being drained has been drained (so it may be retired once nothing arrives there any more).</summary>
    public bool DrainComplete => Draining is not { } older || Enumerable.Range(0, older.Count).All(i => IsDrained(older, i));

    /// <summary>
    /// The partition count a request was routed with, from its partition key (<see cref="Topology.TryParsePartitionQueue"/>):
    /// a later layout's key says it, the first layout's is the first live layout's when that is epoch 1.
    /// Null for a first-layout key once that layout is retired.
    /// </summary>
    public int? CountOfKey(int key) =>
        key >= PartitionLayout.KeyStride ? key / PartitionLayout.KeyStride : Live.FirstOrDefault(l => l.Original)?.Count;
}

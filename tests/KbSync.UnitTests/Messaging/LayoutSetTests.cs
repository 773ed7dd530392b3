using KbSync.Contracts;
using KbSync.Persistence.Partitions;

namespace KbSync.UnitTests.Messaging;

/// <summary>The decisions of a change of partition count: which partitions run, wait or forward.</summary>
public sealed class LayoutSetTests
{
    private static readonly PartitionLayout Old = new(PartitionLayout.FirstEpoch, 16);
    private static readonly PartitionLayout New = new(2, 64);

    private static LayoutSet Changing(params int[] drained) => new([Old, New], drained.Select(i => (Old.Epoch, i)).ToHashSet());

    [Fact]
    public void With_one_layout_every_partition_runs()
    {
        var set = new LayoutSet([Old], new HashSet<(int, int)>());
        Assert.All(Old.Keys, key => Assert.Equal(PartitionRole.Process, set.RoleOf(key)));
        Assert.Equal(16, set.Keys.Count());
        Assert.Null(set.Draining);
        Assert.True(set.DrainComplete);
    }

    [Fact]
    public void After_a_change_old_partitions_run_in_place_and_new_ones_wait_until_their_source_is_drained()
    {
        var set = Changing();
        Assert.Equal(80, set.Keys.Count());
        Assert.All(Old.Keys, key => Assert.Equal(PartitionRole.Process, set.RoleOf(key)));
        Assert.All(New.Keys, key => Assert.Equal(PartitionRole.Wait, set.RoleOf(key)));
        Assert.False(set.DrainComplete);
    }

    [Fact]
    public void A_drained_old_partition_forwards_and_releases_exactly_the_new_partitions_of_its_kbs()
    {
        var set = Changing(5);
        Assert.Equal(PartitionRole.Forward, set.RoleOf(Old.Key(5)));
        Assert.Equal(PartitionRole.Process, set.RoleOf(Old.Key(4)));
        var running = New.Keys.Where(k => set.RoleOf(k) == PartitionRole.Process).Select(New.IndexOf).ToList();
        Assert.Equal([5, 21, 37, 53], running);
    }

    [Fact]
    public void Shrinking_a_new_partition_waits_for_every_old_partition_that_feeds_it()
    {
        var sixteen = new PartitionLayout(3, 16);
        var drained = new HashSet<(int, int)> { (New.Epoch, 3), (New.Epoch, 19), (New.Epoch, 35) };
        Assert.Equal(PartitionRole.Wait, new LayoutSet([New, sixteen], drained).RoleOf(sixteen.Key(3)));
        drained.Add((New.Epoch, 51));
        Assert.Equal(PartitionRole.Process, new LayoutSet([New, sixteen], drained).RoleOf(sixteen.Key(3)));
    }

    [Fact]
    public void Once_every_old_partition_is_drained_the_change_is_complete_and_a_retired_layouts_keys_are_gone()
    {
        var set = Changing(Enumerable.Range(0, 16).ToArray());
        Assert.True(set.DrainComplete);
        Assert.All(New.Keys, key => Assert.Equal(PartitionRole.Process, set.RoleOf(key)));
        var retired = new LayoutSet([New], new HashSet<(int, int)>());
        Assert.Equal(PartitionRole.Gone, retired.RoleOf(Old.Key(3)));
        Assert.Null(retired.CountOfKey(3));
        Assert.Equal(64, retired.CountOfKey(New.Key(3)));
        Assert.Equal(16, set.CountOfKey(3));
    }
}

using KbSync.Contracts;

namespace KbSync.UnitTests.Routing;

public sealed class PartitionLayoutTests
{
    private static readonly PartitionLayout First = new(PartitionLayout.FirstEpoch, 16);
    private static readonly PartitionLayout Sixty4 = new(2, 64);

    [Fact]
    public void The_first_layout_keeps_the_names_and_keys_producers_always_had_and_takes_the_count_qualified_key_too()
    {
        Assert.Equal(Topology.PartitionQueue(7), First.Queue(7));
        Assert.Equal("16.7", First.RoutingKey(7));
        Assert.Equal(["16.7", "7"], First.RoutingKeys(7));
        Assert.Equal(32, First.AllRoutingKeys.Count());
        Assert.Equal(7, First.Key(7));
    }

    [Fact]
    public void A_later_layout_names_its_count_in_queues_and_keys_and_its_keys_parse_back()
    {
        Assert.Equal("kb-partition-64-07", Sixty4.Queue(7));
        Assert.Equal("64.7", Sixty4.RoutingKey(7));
        Assert.Equal(["64.7"], Sixty4.RoutingKeys(7));
        Assert.Equal(640007, Sixty4.Key(7));
        foreach (var index in Enumerable.Range(0, 64))
        {
            Assert.True(Topology.TryParsePartitionQueue(Sixty4.Queue(index), out var key));
            Assert.Equal(Sixty4.Key(index), key);
            Assert.Equal(index, Sixty4.IndexOf(key));
            Assert.Equal(-1, First.IndexOf(key));
        }

        Assert.Equal(-1, Sixty4.IndexOf(7));
        Assert.Equal(-1, new PartitionLayout(3, 32).IndexOf(640007));
    }

    [Theory]
    [InlineData("kb-partition-64-64")]
    [InlineData("kb-partition-0-00")]
    [InlineData("kb-partition-2000-00")]
    [InlineData("kb-partition-64-")]
    [InlineData("kb-partition-64-07_error")]
    [InlineData("kb-partition-64-07-1")]
    public void Names_that_are_no_layouts_partition_do_not_parse(string name)
    {
        Assert.False(Topology.TryParsePartitionQueue(name, out _));
    }

    [Fact]
    public void A_multiple_takes_each_new_partitions_kbs_from_one_old_partition_only()
    {
        for (var index = 0; index < 64; index++)
        {
            Assert.Equal([index % 16], Sixty4.SourcesIn(First, index));
        }
    }

    [Fact]
    public void Sources_are_exactly_the_old_partitions_where_kbs_of_the_new_one_can_be()
    {
        var kbs = Enumerable.Range(0, 5000).Select(i => $"kb-{i}").ToList();
        foreach (var (older, newer) in new[] { (First, Sixty4), (Sixty4, new PartitionLayout(3, 16)), (First, new PartitionLayout(2, 24)), (First, new PartitionLayout(2, 7)) })
        {
            for (var index = 0; index < newer.Count; index++)
            {
                var seen = kbs.Where(kb => newer.PartitionOf(kb) == index).Select(older.PartitionOf).ToHashSet();
                var sources = newer.SourcesIn(older, index);
                Assert.Equal(sources.ToHashSet(), seen); // every KB of the new partition comes from a source, and every source has some
            }
        }

        Assert.Equal([3, 19, 35, 51], new PartitionLayout(3, 16).SourcesIn(Sixty4, 3));
        Assert.Equal(16, new PartitionLayout(2, 7).SourcesIn(First, 0).Count); // no common factor: every old partition
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4)]
    [InlineData(1025)]
    public void Counts_out_of_range_are_refused(int count)
    {
        var error = Assert.Throws<ArgumentException>(() => PartitionLayout.CheckCount(count, "--to"));
        Assert.Contains("--to must be a whole number from 1 to 1024", error.Message);
    }

    /// <summary>The test vectors of docs/wire-format.md, with 64 partitions.</summary>
    [Theory]
    [InlineData("team-notes", "16.0", "64.0")]
    [InlineData("alpha", "16.11", "64.43")]
    [InlineData("beta", "16.7", "64.7")]
    [InlineData("gamma", "16.10", "64.10")]
    [InlineData("delta", "16.1", "64.33")]
    [InlineData("kb-0", "16.13", "64.13")]
    [InlineData("kb-1", "16.10", "64.58")]
    [InlineData("a", "16.12", "64.44")]
    public void The_documented_routing_keys_are_the_layouts(string kbId, string key16, string key64)
    {
        Assert.Equal(key16, First.RoutingKey(First.PartitionOf(kbId)));
        Assert.Equal(key64, Sixty4.RoutingKey(Sixty4.PartitionOf(kbId)));
    }
}

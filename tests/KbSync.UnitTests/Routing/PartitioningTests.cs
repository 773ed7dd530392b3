using KbSync.Contracts;

namespace KbSync.UnitTests.Routing;

/// <summary>
/// Every expected value here was computed outside .NET, in a separate python3 process, with an
/// independent FNV-1a 32-bit implementation over the UTF-8 bytes (offset basis 0x811c9dc5,
/// prime 0x01000193, multiplication modulo 2^32). Because these constants come from another
/// process (and another language), they already prove that the hash does not depend on the
/// process it runs in (unlike <see cref="string.GetHashCode()"/>, which .NET randomises per
/// process); spawning a child process from the suite would add a python3 dependency to CI
/// without proving anything more. The same table goes into docs/wire-format.md.
/// </summary>
public sealed class PartitioningTests
{
    [Theory]
    [InlineData("", 0x811c9dc5u)]
    [InlineData("a", 0xe40c292cu)]
    [InlineData("foobar", 0xbf9cf968u)]
    public void Fnv1a_matches_the_published_fnv1a_32_test_vectors(string value, uint expected)
    {
        Assert.Equal(expected, Partitioning.Fnv1a(value));
    }

    [Theory]
    [InlineData("café", 0xa82b5049u)]
    [InlineData("日本", 0x9f26ee51u)]
    public void Fnv1a_hashes_the_utf8_bytes_of_non_ascii_ids(string value, uint expected)
    {
        Assert.Equal(expected, Partitioning.Fnv1a(value));
    }

    [Theory]
    [InlineData("team-notes", 0x48c24f80u, 0)]
    [InlineData("alpha", 0x5d8b6dabu, 11)]
    [InlineData("beta", 0xaf81e4c7u, 7)]
    [InlineData("gamma", 0xd029140au, 10)]
    [InlineData("delta", 0x6b017c21u, 1)]
    [InlineData("kb-0", 0x41936c8du, 13)]
    [InlineData("kb-1", 0x40936afau, 10)]
    [InlineData("kb-2", 0x3f936967u, 7)]
    [InlineData("kb-3", 0x3e9367d4u, 4)]
    [InlineData("a", 0xe40c292cu, 12)]
    public void Partition_of_a_kb_is_the_same_in_every_process(string kbId, uint expectedHash, int expectedPartition)
    {
        Assert.Equal(expectedHash, Partitioning.Fnv1a(kbId));
        Assert.Equal(expectedPartition, Partitioning.PartitionOf(kbId, 16));
    }

    [Fact]
    public void Partition_is_the_hash_modulo_the_partition_count()
    {
        // 0xe51f67e8 = 3843025896; 3843025896 % 7 = 4 (computed with python3)
        Assert.Equal(0xe51f67e8u, Partitioning.Fnv1a("kb-999"));
        Assert.Equal(4, Partitioning.PartitionOf("kb-999", 7));
    }

    [Fact]
    public void Partition_is_computed_on_the_unsigned_hash_even_when_its_top_bit_is_set()
    {
        // 0xe40c292c does not fit in an int: a signed modulo would give a negative partition.
        Assert.Equal((int)(0xe40c292cu % 1000u), Partitioning.PartitionOf("a", 1000));
        Assert.Equal((int)(0xe40c292cu % int.MaxValue), Partitioning.PartitionOf("a", int.MaxValue));
    }

    [Fact]
    public void A_single_partition_takes_every_kb()
    {
        foreach (var kbId in new[] { "a", "team-notes", "kb-42", "" })
        {
            Assert.Equal(0, Partitioning.PartitionOf(kbId, 1));
        }
    }

    [Fact]
    public void A_thousand_kbs_spread_over_every_one_of_16_partitions()
    {
        var counts = new int[16];
        for (var i = 0; i < 1000; i++)
        {
            var partition = Partitioning.PartitionOf($"kb-{i}", 16);
            Assert.InRange(partition, 0, 15);
            counts[partition]++;
        }

        Assert.All(counts, count => Assert.InRange(count, 30, 100));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void A_partition_count_below_one_is_refused(int partitionCount)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Partitioning.PartitionOf("team-notes", partitionCount));
        Assert.Equal("partitionCount", error.ParamName);
    }

    [Fact]
    public void Partition_queue_of_a_kb_names_its_partition()
    {
        Assert.Equal("kb-partition-00", Topology.PartitionQueue(Partitioning.PartitionOf("team-notes", Topology.DefaultPartitionCount)));
    }
}

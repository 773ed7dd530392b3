using KbSync.KbWorker.Messaging.Partitions;

namespace KbSync.UnitTests.Messaging;

public sealed class PartitionShareTests
{
    [Theory]
    [InlineData(16, 1)]
    [InlineData(16, 2)]
    [InlineData(16, 3)]
    [InlineData(16, 5)]
    [InlineData(16, 16)]
    [InlineData(16, 20)]
    [InlineData(7, 4)]
    public void The_shares_of_all_workers_add_up_to_every_partition_and_differ_by_at_most_one(int partitions, int workers)
    {
        var shares = Enumerable.Range(0, workers).Select(rank => PartitionShare.Of(partitions, workers, rank)).ToList();

        Assert.Equal(partitions, shares.Sum());
        Assert.True(shares.Max() - shares.Min() <= 1, string.Join(",", shares));
    }

    [Fact]
    public void Sixteen_partitions_over_three_workers_are_six_five_and_five()
    {
        Assert.Equal([6, 5, 5], Enumerable.Range(0, 3).Select(rank => PartitionShare.Of(16, 3, rank)));
    }

    [Fact]
    public void More_workers_than_partitions_leave_the_last_ones_without_a_partition()
    {
        Assert.Equal(1, PartitionShare.Of(16, 20, 15));
        Assert.Equal(0, PartitionShare.Of(16, 20, 16));
    }
}

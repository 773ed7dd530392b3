using KbSync.Contracts;

namespace KbSync.UnitTests.Routing;

public sealed class TopologyTests
{
    [Theory]
    [InlineData(0, "kb-partition-00")]
    [InlineData(3, "kb-partition-03")]
    [InlineData(15, "kb-partition-15")]
    [InlineData(123, "kb-partition-123")]
    public void Partition_queue_names_have_a_two_digit_partition_number(int partition, string expected)
    {
        Assert.Equal(expected, Topology.PartitionQueue(partition));
    }

    [Theory]
    [InlineData(0, "0")]
    [InlineData(7, "7")]
    [InlineData(15, "15")]
    public void Routing_key_is_the_plain_partition_number(int partition, string expected)
    {
        Assert.Equal(expected, Topology.RoutingKey(partition));
    }

    [Theory]
    [InlineData("kb-partition-00", 0)]
    [InlineData("kb-partition-07", 7)]
    [InlineData("kb-partition-15", 15)]
    [InlineData("kb-partition-123", 123)]
    [InlineData("rabbitmq://localhost/vhost/kb-partition-07", 7)]
    [InlineData("rabbitmq://localhost/kb-partition-12", 12)]
    [InlineData("/vhost/kb-partition-03", 3)]
    public void Partition_queue_names_and_addresses_give_back_their_partition(string queueOrAddress, int expected)
    {
        Assert.True(Topology.TryParsePartitionQueue(queueOrAddress, out var partition));
        Assert.Equal(expected, partition);
    }

    [Fact]
    public void Every_partition_queue_name_parses_back_to_its_partition()
    {
        for (var partition = 0; partition < Topology.DefaultPartitionCount; partition++)
        {
            Assert.True(Topology.TryParsePartitionQueue(Topology.PartitionQueue(partition), out var parsed));
            Assert.Equal(partition, parsed);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("kb-partition-")]
    [InlineData("kb-partition-x")]
    [InlineData("kb-partition--1")]
    [InlineData("kb-partition-+1")]
    [InlineData("kb-partition- 7")]
    [InlineData("kb-partition-07 ")]
    [InlineData("kb-partition-7.0")]
    [InlineData("kb-partition-99999999999")]
    [InlineData("KB-PARTITION-07")]
    [InlineData("kb-partition-07_error")]
    [InlineData("kb-partition-07_skipped")]
    [InlineData("other-queue")]
    [InlineData("kbsync.requests")]
    [InlineData("partition-07")]
    [InlineData("rabbitmq://localhost/vhost/kb-partition-07/")]
    [InlineData("rabbitmq://localhost/kb-partition-07/other")]
    [InlineData("rabbitmq://localhost/vhost/queue-07")]
    public void Other_queue_names_and_addresses_are_not_partition_queues(string queueOrAddress)
    {
        Assert.False(Topology.TryParsePartitionQueue(queueOrAddress, out _));
    }
    [Fact]
    public void Partition_queues_are_quorum_queues_with_single_active_consumer_refusing_publishes_past_their_limit()
    {
        Assert.Equal(new Dictionary<string, object>
        {
            ["x-queue-type"] = "quorum",
            ["x-single-active-consumer"] = true,
            ["x-max-length"] = 500,
            ["x-overflow"] = "reject-publish",
        }, Topology.PartitionQueueArguments(500));
        Assert.Equal(new Dictionary<string, object> { ["x-queue-type"] = "quorum", ["x-single-active-consumer"] = true }, Topology.PartitionQueueArguments(0));
    }

    [Fact]
    public void The_queue_tap_is_a_quorum_queue_with_single_active_consumer_and_no_length_limit()
    {
        Assert.Equal(new Dictionary<string, object> { ["x-queue-type"] = "quorum", ["x-single-active-consumer"] = true }, Topology.QueueTapArguments());
    }
}

using KbSync.Contracts;

namespace KbSync.UnitTests.Routing;

/// <summary>Which broker nodes a producer or worker connects to: <c>RabbitMq__Host</c>/<c>Port</c>, or the cluster's <c>RabbitMq__Hosts__n</c>.</summary>
public sealed class RabbitMqOptionsTests
{
    [Fact]
    public void Without_hosts_the_one_node_is_host_and_port()
    {
        var options = new RabbitMqOptions { Host = "broker.internal", Port = 5671 };

        Assert.Equal([new BrokerNode("broker.internal", 5671)], options.Nodes());
    }

    [Fact]
    public void Hosts_replace_host_in_their_order_and_take_port_where_they_name_none()
    {
        var options = new RabbitMqOptions { Host = "ignored", Port = 5672, Hosts = ["rabbit-2:5674", " rabbit-3 ", "10.0.0.1:5673"] };

        Assert.Equal([new BrokerNode("rabbit-2", 5674), new BrokerNode("rabbit-3", 5672), new BrokerNode("10.0.0.1", 5673)], options.Nodes());
        Assert.Equal("rabbit-2:5674", options.Nodes()[0].ToString()); // as MassTransit's cluster configuration takes a node
    }

    [Theory]
    [InlineData("")]
    [InlineData(":5672")]
    [InlineData("rabbit:")]
    [InlineData("rabbit:0")]
    [InlineData("rabbit:65536")]
    [InlineData("rabbit:+5672")]
    [InlineData("rabbit:port")]
    [InlineData("::1")]
    [InlineData("a:1:2")]
    public void A_host_that_is_not_host_or_host_port_is_refused_with_the_setting_named(string entry)
    {
        var options = new RabbitMqOptions { Hosts = [entry] };

        var error = Assert.Throws<FormatException>(() => options.Nodes());
        Assert.Contains("RabbitMq__Hosts", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{entry}'", error.Message, StringComparison.Ordinal);
    }
}

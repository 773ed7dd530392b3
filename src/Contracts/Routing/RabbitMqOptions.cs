namespace KbSync.Contracts;

/// <summary>
/// How producers and workers reach the broker (section <c>RabbitMq</c>, environment variables
/// <c>RabbitMq__Host</c>, or <c>RabbitMq__Hosts__0</c>… for a cluster, and so on). <see cref="Partitions"/>
/// must be the same everywhere.
/// </summary>
public sealed class RabbitMqOptions
{
    public const string Section = "RabbitMq";

    public string Host { get; set; } = "localhost";
    public int Port { get; set; } = 5672;

    /// <summary>
    /// The nodes of a RabbitMQ cluster, each <c>host</c> or <c>host:port</c> (<see cref="Port"/> when
    /// none is given): <c>RabbitMq__Hosts__0</c>, <c>RabbitMq__Hosts__1</c>, … When given, they replace
    /// <see cref="Host"/>. A producer or worker connects to the first node that answers and, when its node
    /// is lost, to the next one in the list (wrapping around), so list them in a different order on
    /// different processes to spread the connections.
    /// </summary>
    public List<string> Hosts { get; set; } = [];
    public string VirtualHost { get; set; } = "/";
    public string Username { get; set; } = "guest";
    public string Password { get; set; } = "guest";

    /// <summary>How many partition queues requests are spread over (P).</summary>
    public int Partitions { get; set; } = Topology.DefaultPartitionCount;

    /// <summary>
    /// The most requests one partition queue holds; past it publishing is refused ("queue full") until
    /// the workers catch up. 0: no limit. Part of the queues' declaration, so it must be the same on
    /// every worker, and it cannot change on an existing queue (see docs/wire-format.md).
    /// </summary>
    public int MaxQueueLength { get; set; } = Topology.DefaultMaxQueueLength;

    /// <summary>The broker nodes to connect to, in order of preference: <see cref="Hosts"/>, or else <see cref="Host"/>:<see cref="Port"/>.</summary>
    /// <exception cref="FormatException">An entry of <see cref="Hosts"/> is not <c>host</c> or <c>host:port</c>.</exception>
    public IReadOnlyList<BrokerNode> Nodes() =>
        Hosts.Count == 0 ? [new BrokerNode(Host, Port)] : Hosts.Select(entry => BrokerNode.Parse(entry, Port)).ToList();
}

/// <summary>
/// One broker node: a host name or IPv4 address, and its AMQP port. <see cref="ToString"/> gives
/// <c>host:port</c>, as MassTransit's cluster configuration takes it (it splits at the colon, so an IPv6
/// literal cannot be one: name such a node by a host name).
/// </summary>
public readonly record struct BrokerNode(string Host, int Port)
{
    public static BrokerNode Parse(string entry, int defaultPort)
    {
        var parts = entry.Trim().Split(':');
        var port = defaultPort;
        if (parts.Length > 2 || parts[0].Length == 0 || (parts.Length == 2 &&
            !(int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) && port is > 0 and <= 65535)))
        {
            throw new FormatException($"RabbitMq__Hosts: '{entry}' is not 'host' or 'host:port' (a host name or IPv4 address, and a port from 1 to 65535).");
        }

        return new BrokerNode(parts[0], port);
    }

    public override string ToString() => $"{Host}:{Port}";
}

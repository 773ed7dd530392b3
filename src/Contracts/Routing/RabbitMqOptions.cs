namespace KbSync.Contracts;

/// <summary>
/// How producers and workers reach the broker (section <c>RabbitMq</c>, environment variables
/// <c>RabbitMq__Host</c> and so on). <see cref="Partitions"/> must be the same everywhere.
/// </summary>
public sealed class RabbitMqOptions
{
    public const string Section = "RabbitMq";

    public string Host { get; set; } = "localhost";
    public int Port { get; set; } = 5672;
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
}

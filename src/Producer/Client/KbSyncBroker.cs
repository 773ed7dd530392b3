using KbSync.Contracts;
using MassTransit;

namespace KbSync.Producer.Client;

/// <summary>How every KbSync process's MassTransit bus reaches the broker: the workers' and the client's.</summary>
public static class KbSyncBroker
{
    /// <summary>
    /// The broker node (or a cluster's nodes, <c>RabbitMq__Hosts__N</c>) with the section's credentials,
    /// and the result events' exchange names (docs/wire-format.md).
    /// </summary>
    /// <param name="host">More host settings, such as publisher confirms.</param>
    public static void UseKbSyncBroker(this IRabbitMqBusFactoryConfigurator cfg, RabbitMqOptions rabbit, Action<IRabbitMqHostConfigurator>? host = null)
    {
        var nodes = rabbit.Nodes();
        cfg.Host(nodes[0].Host, (ushort)nodes[0].Port, rabbit.VirtualHost, h =>
        {
            h.Username(rabbit.Username);
            h.Password(rabbit.Password);
            if (nodes.Count > 1)
            {
                // RabbitMq__Hosts: each connection attempt takes the next node in turn, so a lost node's connections move to the next
                h.UseCluster(cluster =>
                {
                    foreach (var node in nodes)
                    {
                        cluster.Node(node.ToString());
                    }
                });
            }

            host?.Invoke(h);
        });
        cfg.Message<OperationCompleted>(m => m.SetEntityName(Topology.CompletedExchange));
        cfg.Message<OperationFailed>(m => m.SetEntityName(Topology.FailedExchange));
    }
}

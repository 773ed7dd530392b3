using KbSync.Contracts;
using RabbitMQ.Client;

namespace KbSync.Producer.Client;

/// <summary>
/// A plain RabbitMQ.Client connection to any node of <see cref="RabbitMqOptions.Nodes"/>, for what
/// MassTransit does not do: publishing requests (<see cref="RequestChannel"/>), the queue tap's ordered
/// reading and the workers' declaration of the partition topology. No automatic recovery: each owner
/// opens a new connection (and declares again) after a lost one.
/// </summary>
public static class BrokerConnection
{
    public static Task<IConnection> OpenAsync(RabbitMqOptions rabbit, string clientName, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory
        {
            VirtualHost = rabbit.VirtualHost,
            UserName = rabbit.Username,
            Password = rabbit.Password,
            ClientProvidedName = clientName,
            AutomaticRecoveryEnabled = false,
        };

        // any node of a cluster will do (the client tries them in turn); a quorum queue is led first by the node that declares it
        return factory.CreateConnectionAsync(rabbit.Nodes().Select(node => new AmqpTcpEndpoint(node.Host, node.Port)), cancellationToken);
    }
}

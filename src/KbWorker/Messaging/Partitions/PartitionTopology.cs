using KbSync.Contracts;
using KbSync.Persistence.QueueTap;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>
/// Declares every partition queue when the worker starts, whether or not it will own the partition:
/// requests are published with the mandatory flag, so a partition nobody has taken yet must still
/// have its queue. The objects are the ones MassTransit declares for a partition endpoint
/// (<see cref="PartitionEndpoint"/>), argument for argument, or RabbitMQ would refuse one of the two
/// declarations: <c>kbsync.requests</c> (direct) → exchange <c>kb-partition-NN</c> (fanout, routing key
/// NN) → quorum queue <c>kb-partition-NN</c> with <see cref="Topology.PartitionQueueArguments"/>; and the queue tap
/// (<see cref="QueueTapReader.DeclareAsync"/>), so a request published once a worker has started is recorded. Registered before
/// MassTransit, so the queues exist before the bus says it has started; it tries again until the
/// broker answers. On a cluster (<see cref="RabbitMqOptions.Hosts"/>) each quorum queue gets a member on
/// every node, as RabbitMQ 3.10 does when no <c>x-quorum-initial-group-size</c> is given.
/// </summary>
public sealed class PartitionTopology(IOptions<RabbitMqOptions> options, ILogger<PartitionTopology> logger) : IHostedService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await DeclareAsync(cancellationToken);
                return;
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                logger.LogWarning("Could not declare the partition queues ({Message}); trying again in {Delay}.", error.Message, RetryDelay);
                await Task.Delay(RetryDelay, cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task DeclareAsync(CancellationToken cancellationToken)
    {
        var rabbit = options.Value;
        await using var connection = await BrokerConnection.OpenAsync(rabbit, "kbworker-topology", cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.ExchangeDeclareAsync(Topology.RequestsExchange, ExchangeType.Direct, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        var arguments = Topology.PartitionQueueArguments(rabbit.MaxQueueLength).ToDictionary(a => a.Key, a => (object?)a.Value);
        for (var partition = 0; partition < rabbit.Partitions; partition++)
        {
            var name = Topology.PartitionQueue(partition);
            await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
            await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(name, name, routingKey: "", cancellationToken: cancellationToken);
            await channel.ExchangeBindAsync(name, Topology.RequestsExchange, Topology.RoutingKey(partition), cancellationToken: cancellationToken);
        }

        await channel.CloseAsync(cancellationToken);
        await QueueTapReader.DeclareAsync(connection, rabbit.Partitions, cancellationToken); // the tap too: copies are kept from the moment a worker has started
        await connection.CloseAsync(cancellationToken);
    }
}

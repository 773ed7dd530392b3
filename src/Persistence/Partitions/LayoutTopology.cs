using KbSync.Contracts;
using KbSync.Persistence.QueueTap;
using RabbitMQ.Client;

namespace KbSync.Persistence.Partitions;

/// <summary>
/// A layout's objects on the broker, for whoever declares or removes them: the workers when they start
/// (every live layout), <c>kbsync partitions change</c> (the new layout, before it is recorded, so a request
/// routed with it is never returned), and <c>kbsync partitions retire</c>. The objects are the ones MassTransit
/// declares for a partition endpoint, argument for argument (RabbitMQ refuses a second declaration that
/// differs): <c>kbsync.requests</c> (direct) → exchange named like the queue (fanout, bound with the
/// partition's routing keys, <see cref="PartitionLayout.RoutingKeys"/>) → the quorum queue with <see cref="Topology.PartitionQueueArguments"/>; and the
/// queue tap's binding for each routing key (<see cref="QueueTapReader.DeclareAsync"/>).
/// </summary>
public static class LayoutTopology
{
    public static async Task DeclareAsync(IConnection connection, PartitionLayout layout, int maxQueueLength, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.ExchangeDeclareAsync(Topology.RequestsExchange, ExchangeType.Direct, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        var arguments = Topology.PartitionQueueArguments(maxQueueLength).ToDictionary(a => a.Key, a => (object?)a.Value);
        for (var index = 0; index < layout.Count; index++)
        {
            var name = layout.Queue(index);
            await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
            await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(name, name, routingKey: "", cancellationToken: cancellationToken);
            foreach (var routingKey in layout.RoutingKeys(index))
            {
                await channel.ExchangeBindAsync(name, Topology.RequestsExchange, routingKey, cancellationToken: cancellationToken);
            }
        }

        await channel.CloseAsync(cancellationToken);
        await QueueTapReader.DeclareAsync(connection, layout.AllRoutingKeys, cancellationToken);
    }

    /// <summary>How many requests wait in each of the layout's queues (ready ones: not those delivered to a consumer and not yet acknowledged).</summary>
    public static async Task<IReadOnlyList<uint>> ReadyCountsAsync(IConnection connection, PartitionLayout layout, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var counts = new List<uint>(layout.Count);
        for (var index = 0; index < layout.Count; index++)
        {
            counts.Add((await channel.QueueDeclarePassiveAsync(layout.Queue(index), cancellationToken)).MessageCount);
        }

        await channel.CloseAsync(cancellationToken);
        return counts;
    }

    /// <summary>Removes the routes to a layout being retired (the request exchange's bindings and the tap's): nothing more arrives in its queues.</summary>
    public static async Task UnbindAsync(IConnection connection, PartitionLayout layout, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        for (var index = 0; index < layout.Count; index++)
        {
            foreach (var routingKey in layout.RoutingKeys(index))
            {
                await channel.ExchangeUnbindAsync(layout.Queue(index), Topology.RequestsExchange, routingKey, cancellationToken: cancellationToken);
                await channel.QueueUnbindAsync(Topology.QueueTapQueue, Topology.RequestsExchange, routingKey, cancellationToken: cancellationToken);
            }
        }

        await channel.CloseAsync(cancellationToken);
    }

    /// <summary>Each queue of the layout: requests waiting in it (ready), and consumers (a forwarder, while a worker still forwards it).</summary>
    public static async Task<IReadOnlyList<(string Queue, uint Ready, uint Consumers)>> QueueStatesAsync(IConnection connection, PartitionLayout layout, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var states = new List<(string, uint, uint)>(layout.Count);
        for (var index = 0; index < layout.Count; index++)
        {
            var state = await channel.QueueDeclarePassiveAsync(layout.Queue(index), cancellationToken);
            states.Add((layout.Queue(index), state.MessageCount, state.ConsumerCount));
        }

        await channel.CloseAsync(cancellationToken);
        return states;
    }

    /// <summary>
    /// Deletes a retired layout's queues and their exchanges. Only once they are unbound, empty and without a
    /// consumer: quorum queues cannot be deleted "if empty", so the caller checks (<see cref="QueueStatesAsync"/>).
    /// </summary>
    public static async Task DeleteAsync(IConnection connection, PartitionLayout layout, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        for (var index = 0; index < layout.Count; index++)
        {
            await channel.QueueDeleteAsync(layout.Queue(index), ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken);
            await channel.ExchangeDeleteAsync(layout.Queue(index), ifUnused: false, cancellationToken: cancellationToken);
        }

        await channel.CloseAsync(cancellationToken);
    }
}

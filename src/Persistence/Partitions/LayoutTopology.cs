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
/// partition's routing key) → the quorum queue with <see cref="Topology.PartitionQueueArguments"/>; and the
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
            await channel.ExchangeBindAsync(name, Topology.RequestsExchange, layout.RoutingKey(index), cancellationToken: cancellationToken);
        }

        await channel.CloseAsync(cancellationToken);
        await QueueTapReader.DeclareAsync(connection, Enumerable.Range(0, layout.Count).Select(layout.RoutingKey), cancellationToken);
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

    /// <summary>
    /// Removes a retired layout: first the routes to it (the request exchange's bindings and the tap's), so
    /// nothing more arrives, then each queue only if it is empty, and the queue's exchange.
    /// </summary>
    /// <exception cref="InvalidOperationException">A queue still holds requests: it is kept, and so is the layout.</exception>
    public static async Task DeleteAsync(IConnection connection, PartitionLayout layout, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        for (var index = 0; index < layout.Count; index++)
        {
            await channel.ExchangeUnbindAsync(layout.Queue(index), Topology.RequestsExchange, layout.RoutingKey(index), cancellationToken: cancellationToken);
            await channel.QueueUnbindAsync(Topology.QueueTapQueue, Topology.RequestsExchange, layout.RoutingKey(index), cancellationToken: cancellationToken);
        }

        for (var index = 0; index < layout.Count; index++)
        {
            var name = layout.Queue(index);
            var waiting = (await channel.QueueDeclarePassiveAsync(name, cancellationToken)).MessageCount;
            if (waiting > 0)
            {
                throw new InvalidOperationException($"{name} still holds {waiting} request(s): its owner forwards them; run retire again once it is empty.");
            }

            await channel.QueueDeleteAsync(name, ifUnused: false, ifEmpty: true, cancellationToken: cancellationToken);
            await channel.ExchangeDeleteAsync(name, ifUnused: false, cancellationToken: cancellationToken);
        }

        await channel.CloseAsync(cancellationToken);
    }
}

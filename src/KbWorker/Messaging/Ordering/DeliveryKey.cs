using MassTransit;
using MassTransit.RabbitMqTransport;
using RabbitMQ.Client;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// Where a message sits in the broker's delivery order: RabbitMQ numbers deliveries 1, 2, 3... per
/// channel, and MassTransit gives each consumer a channel of its own.
/// <para>
/// Keyed by the channel, never by the consumer tag: MassTransit reads the tag from its consumer when
/// the delivery is dispatched, and RabbitMQ.Client (7.x) dispatches consume-ok and the first deliveries
/// on as many threads as the endpoint's concurrent-message limit, so the first delivery of a channel
/// can arrive before its consumer tag is known (seen as a 30 s gap wait before the second).
/// </para>
/// </summary>
public readonly record struct DeliveryKey(IChannel Channel, ulong DeliveryTag)
{
    public static DeliveryKey? Of(ReceiveContext context) =>
        context.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit) && context.TryGetPayload<ChannelContext>(out var channel)
            ? new DeliveryKey(channel.Channel, rabbit.DeliveryTag)
            : null;
}

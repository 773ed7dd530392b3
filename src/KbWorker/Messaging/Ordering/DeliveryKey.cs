using MassTransit;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// Where a message sits in the broker's delivery order: RabbitMQ numbers deliveries 1, 2, 3... per
/// channel, and MassTransit gives each consumer its own channel (a new consumer tag starts over).
/// </summary>
public readonly record struct DeliveryKey(string ConsumerTag, ulong DeliveryTag)
{
    public static DeliveryKey? Of(ReceiveContext context) =>
        context.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit) ? new DeliveryKey(rabbit.ConsumerTag, rabbit.DeliveryTag) : null;
}

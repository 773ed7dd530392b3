using KbSync.Contracts;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Messaging.Ordering;
using MassTransit;

namespace KbSync.KbWorker.Messaging;

/// <summary>
/// Hands each request of a partition queue to that partition's <see cref="PartitionSequencer"/>,
/// which runs them in delivery order (grouping each KB's waiting requests into one commit run),
/// and returns once its outcome is recorded and published, so the message is acknowledged only then.
/// A request the backstop gave up on is moved to the partition's error queue instead.
/// </summary>
public sealed class KbRequestConsumer(PartitionSequencers sequencers) : IConsumer<KbRequest>
{
    public async Task Consume(ConsumeContext<KbRequest> context)
    {
        if (!Topology.TryParsePartitionQueue(context.ReceiveContext.InputAddress.AbsolutePath, out var partition) ||
            DeliveryKey.Of(context.ReceiveContext) is not { } delivery)
        {
            throw new InvalidOperationException($"{nameof(KbRequestConsumer)} only serves partition queues on RabbitMQ, not {context.ReceiveContext.InputAddress}.");
        }

        // RabbitMQ refuses a publish whose user_id is not the connection's user: this one is proven
        var brokerUser = context.ReceiveContext.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit) && rabbit.Properties.IsUserIdPresent() ? rabbit.Properties.UserId : null;
        var request = context.Message with { BrokerUser = brokerUser };
        var operation = await sequencers.For(partition).SubmitAsync(delivery, request, context.CancellationToken);
        if (operation.Poisoned)
        {
            throw new PoisonRequestException(operation.Id, operation.Outcome?.ErrorMessage ?? "");
        }
    }
}

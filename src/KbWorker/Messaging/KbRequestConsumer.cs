using KbSync.Contracts;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Messaging.Ordering;
using KbSync.KbWorker.Messaging.Partitions;
using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging;

/// <summary>
/// Hands each request of a partition queue to that partition's <see cref="PartitionSequencer"/>,
/// which runs them in delivery order (grouping each KB's waiting requests into one commit run),
/// and returns once its outcome is recorded and published, so the message is acknowledged only then.
/// A request the backstop gave up on is moved to the partition's error queue instead.
/// </summary>
public sealed class KbRequestConsumer(PartitionSequencers sequencers, IOptions<RabbitMqOptions> workerUser) : IConsumer<KbRequest>
{
    public async Task Consume(ConsumeContext<KbRequest> context)
    {
        if (!Topology.TryParsePartitionQueue(context.ReceiveContext.InputAddress.AbsolutePath, out var partition) ||
            DeliveryKey.Of(context.ReceiveContext) is not { } delivery)
        {
            throw new InvalidOperationException($"{nameof(KbRequestConsumer)} only serves partition queues on RabbitMQ, not {context.ReceiveContext.InputAddress}.");
        }

        // RabbitMQ refuses a publish whose user_id is not the connection's user: this one is proven (for a request a worker forwarded from an older layout, the one it proved)
        var brokerUser = context.ReceiveContext.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit) && rabbit.Properties.IsUserIdPresent()
            ? ForwardedRequest.ProvenUser(rabbit.Properties.UserId, rabbit.Properties.Headers, workerUser.Value.Username) : null;
        var request = context.Message with { BrokerUser = brokerUser };
        var operation = await sequencers.For(partition).SubmitAsync(delivery, request, context.CancellationToken);
        if (operation.Poisoned)
        {
            throw new PoisonRequestException(operation.Id, operation.Outcome?.ErrorMessage ?? "");
        }
    }
}

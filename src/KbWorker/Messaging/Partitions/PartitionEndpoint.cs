using KbSync.Contracts;
using MassTransit;
using MassTransit.Middleware;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>
/// How a partition queue's receive endpoint is set up when this worker takes the partition
/// (<see cref="PartitionOwnership"/>): the queue as <see cref="PartitionTopology"/> declares it,
/// the raw JSON wire format, and unreadable messages recorded as failed before they go to the error
/// or dead-letter queue.
/// </summary>
public static class PartitionEndpoint
{
    public static void Configure(IRabbitMqReceiveEndpointConfigurator endpoint, string routingKey, IRegistrationContext context)
    {
        var recorder = context.GetRequiredService<UnreadableMessageRecorder>();
        endpoint.ConfigureConsumeTopology = false;
        // exactly as PartitionTopology declares the queue: quorum, single active consumer (a safety net: ownership already gives each partition one worker), its length limit
        foreach (var (name, value) in Topology.PartitionQueueArguments(context.GetRequiredService<IOptions<RabbitMqOptions>>().Value.MaxQueueLength))
        {
            endpoint.SetQueueArgument(name, value);
        }

        endpoint.PublishFaults = false; // requesters get OperationFailed; MassTransit's Fault<T> would only add noise
        endpoint.Bind(Topology.RequestsExchange, exchange =>
        {
            exchange.ExchangeType = RabbitMQ.Client.ExchangeType.Direct;
            exchange.RoutingKey = routingKey; // the partition's key in its layout (PartitionLayout.RoutingKey)
        });
        endpoint.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: false);
        endpoint.ConfigureError(error =>
        {
            error.UseFilter(recorder);
            error.UseFilter(new GenerateFaultFilter());
            error.UseFilter(new ErrorTransportFilter());
        });
        endpoint.ConfigureDeadLetter(deadLetter =>
        {
            deadLetter.UseFilter(recorder);
            deadLetter.UseFilter(new DeadLetterTransportFilter());
        });
        endpoint.ConfigureConsumer<KbRequestConsumer>(context);
    }
}

using KbSync.Contracts;
using KbSync.KbWorker.Messaging.Ordering;
using KbSync.KbWorker.Messaging.Partitions;
using KbSync.KbWorker.Operations;
using KbSync.Producer.Client;
using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging;

public static class MessagingExtensions
{
    /// <summary>
    /// MassTransit on RabbitMQ. Every worker declares every partition queue (a quorum queue bound to
    /// <see cref="Topology.RequestsExchange"/> by the partition number), but subscribes only to the
    /// partitions it owns (<see cref="PartitionOwnership"/>): the live workers share them, and take
    /// over those of a worker that stops or dies. The queue tap is read by <c>AddQueueTap</c> (Persistence/QueueTap).
    /// </summary>
    public static IHostApplicationBuilder AddKbMessaging(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.Section);
        // the bus at its first publish: the receive observer below is made while the bus is built, and reaches the publisher
        builder.Services.AddSingleton<IResultPublisher>(services => new BusResultPublisher(new Lazy<IBus>(services.GetRequiredService<IBus>)));
        builder.Services.AddSingleton<LiveLayouts>();
        builder.Services.AddSingleton<PartitionForwarding>();
        builder.Services.AddSingleton<PartitionSequencers>();
        builder.Services.AddSingleton<UnreadableMessageRecorder>();
        builder.Services.AddReceiveObserver<DeliveryObserver>();
        builder.Services.AddHostedService<PartitionTopology>(); // before MassTransit: every queue exists before the bus has started
        builder.Services.AddMassTransit(bus =>
        {
            bus.AddConsumer<KbRequestConsumer, KbRequestConsumerDefinition>();
            bus.UsingRabbitMq((context, cfg) =>
            {
                cfg.UseKbSyncBroker(context.GetRequiredService<IOptions<RabbitMqOptions>>().Value);
            });
        });
        builder.Services.Configure<MassTransitHostOptions>(host => host.WaitUntilStarted = true); // partition endpoints are connected to a started bus
        builder.Services.AddSingleton<PartitionLocks>();
        builder.Services.AddHostedService<PartitionOwnership>(); // after MassTransit: starts after it, and hands the partitions over before it stops
        return builder;
    }
}

using KbSync.Contracts;
using KbSync.KbWorker.Messaging.Ordering;
using MassTransit;
using MassTransit.Middleware;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace KbSync.KbWorker.Messaging;

public static class MessagingExtensions
{
    /// <summary>
    /// MassTransit on RabbitMQ: one receive endpoint per partition, a quorum queue with single active
    /// consumer bound to <see cref="Topology.RequestsExchange"/> by the partition number. Every worker
    /// declares every partition, so any worker can take over any partition when another stops or dies.
    /// </summary>
    public static IHostApplicationBuilder AddKbMessaging(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.Section);
        builder.Services.AddSingleton<PartitionSequencers>();
        builder.Services.AddSingleton<UnreadableMessageRecorder>();
        builder.Services.AddReceiveObserver<DeliveryObserver>();
        builder.Services.AddMassTransit(bus =>
        {
            bus.AddConsumer<KbRequestConsumer, KbRequestConsumerDefinition>();
            bus.AddConsumer<QueuedTapConsumer, QueuedTapConsumerDefinition>();
            bus.UsingRabbitMq((context, cfg) =>
            {
                var rabbit = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
                cfg.Host(rabbit.Host, (ushort)rabbit.Port, rabbit.VirtualHost, h =>
                {
                    h.Username(rabbit.Username);
                    h.Password(rabbit.Password);
                });
                cfg.Message<OperationCompleted>(m => m.SetEntityName(Topology.CompletedExchange));
                cfg.Message<OperationFailed>(m => m.SetEntityName(Topology.FailedExchange));

                var recorder = context.GetRequiredService<UnreadableMessageRecorder>();
                cfg.ReceiveEndpoint(Topology.QueuedTapQueue, tap =>
                {
                    tap.ConfigureConsumeTopology = false;
                    tap.SetQuorumQueue();
                    tap.PublishFaults = false;
                    for (var partition = 0; partition < rabbit.Partitions; partition++)
                    {
                        var routingKey = Topology.RoutingKey(partition);
                        tap.Bind(Topology.RequestsExchange, exchange =>
                        {
                            exchange.ExchangeType = ExchangeType.Direct;
                            exchange.RoutingKey = routingKey;
                        });
                    }

                    tap.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: false);
                    tap.DiscardFaultedMessages(); // a copy: the partition consumer records unreadable messages
                    tap.DiscardSkippedMessages();
                    tap.ConfigureConsumer<QueuedTapConsumer>(context);
                });

                for (var partition = 0; partition < rabbit.Partitions; partition++)
                {
                    var routingKey = Topology.RoutingKey(partition);
                    cfg.ReceiveEndpoint(Topology.PartitionQueue(partition), endpoint =>
                    {
                        endpoint.ConfigureConsumeTopology = false;
                        endpoint.SetQuorumQueue();
                        endpoint.PublishFaults = false; // requesters get OperationFailed; MassTransit's Fault<T> would only add noise
                        endpoint.SingleActiveConsumer = true;
                        endpoint.Bind(Topology.RequestsExchange, exchange =>
                        {
                            exchange.ExchangeType = ExchangeType.Direct;
                            exchange.RoutingKey = routingKey;
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
                    });
                }
            });
        });
        builder.Services.AddHostedService<HandOverOnStop>(); // after MassTransit: stops before it
        return builder;
    }
}

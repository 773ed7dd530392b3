using KbSync.Contracts;
using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Client;

public static class ClientExtensions
{
    /// <summary>MassTransit on RabbitMQ (section <c>RabbitMq</c>) and <see cref="KbSyncClient"/>.</summary>
    public static IHostApplicationBuilder AddKbSyncClient(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.Section);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<KbSyncClient>();
        builder.Services.AddSingleton<RefusedPublishes>();
        builder.Services.AddMassTransit(bus => bus.UsingRabbitMq((context, cfg) =>
        {
            cfg.ConnectSendObserver(context.GetRequiredService<RefusedPublishes>());
            var rabbit = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
            cfg.Host(rabbit.Host, (ushort)rabbit.Port, rabbit.VirtualHost, h =>
            {
                h.Username(rabbit.Username);
                h.Password(rabbit.Password);
                h.PublisherConfirmation = true;
            });
            cfg.Message<OperationCompleted>(m => m.SetEntityName(Topology.CompletedExchange));
            cfg.Message<OperationFailed>(m => m.SetEntityName(Topology.FailedExchange));
        }));
        return builder;
    }
}

using KbSync.Contracts;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Client;

public static class ClientExtensions
{
    /// <summary>
    /// MassTransit on RabbitMQ (section <c>RabbitMq</c>) and <see cref="KbSyncClient"/>. Traces are the
    /// program's to configure: MassTransit's send spans come from the ActivitySource <c>MassTransit</c>.
    /// </summary>
    public static IHostApplicationBuilder AddKbSyncClient(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.Section);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<KbSyncClient>();
        builder.Services.AddSingleton<RefusedPublishes>();
        builder.Services.AddMassTransit(bus => bus.UsingRabbitMq((context, cfg) =>
        {
            cfg.ConnectSendObserver(context.GetRequiredService<RefusedPublishes>());
            cfg.UseKbSyncBroker(context.GetRequiredService<IOptions<RabbitMqOptions>>().Value, host => host.PublisherConfirmation = true);
        }));
        return builder;
    }
}

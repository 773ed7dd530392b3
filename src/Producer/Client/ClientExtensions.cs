using KbSync.Contracts;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KbSync.Producer.Client;

public static class ClientExtensions
{
    /// <summary>
    /// <see cref="KbSyncClient"/> from the section <c>RabbitMq</c>: requests go out on a plain RabbitMQ.Client
    /// channel (<see cref="RequestChannel"/>), results come in through MassTransit. Traces are the program's to
    /// configure: the publish spans come from the ActivitySource <see cref="KbSyncClient.ActivitySourceName"/>.
    /// </summary>
    public static IHostApplicationBuilder AddKbSyncClient(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.Section);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<KbSyncClient>();
        builder.Services.AddSingleton<RequestChannel>();
        builder.Services.AddMassTransit(bus => bus.UsingRabbitMq((context, cfg) =>
            cfg.UseKbSyncBroker(context.GetRequiredService<IOptions<RabbitMqOptions>>().Value)));
        return builder;
    }
}

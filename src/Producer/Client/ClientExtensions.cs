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
            var rabbit = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
            var nodes = rabbit.Nodes();
            cfg.Host(nodes[0].Host, (ushort)nodes[0].Port, rabbit.VirtualHost, h =>
            {
                h.Username(rabbit.Username);
                h.Password(rabbit.Password);
                if (nodes.Count > 1)
                {
                    // RabbitMq__Hosts: each connection attempt takes the next node in turn, so a lost node's connections move to the next
                    h.UseCluster(cluster =>
                    {
                        foreach (var node in nodes)
                        {
                            cluster.Node(node.ToString());
                        }
                    });
                }
                h.PublisherConfirmation = true;
            });
            cfg.Message<OperationCompleted>(m => m.SetEntityName(Topology.CompletedExchange));
            cfg.Message<OperationFailed>(m => m.SetEntityName(Topology.FailedExchange));
        }));
        return builder;
    }
}

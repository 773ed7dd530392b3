using KbSync.Contracts;
using MassTransit;
using MassTransit.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace KbSync.Producer.Client;

public static class ClientExtensions
{
    /// <summary>MassTransit on RabbitMQ (section <c>RabbitMq</c>) and <see cref="KbSyncClient"/>; traces of what it publishes when an exporter is configured.</summary>
    /// <param name="serviceName">What this process is called in traces (the CLI, the API, a program using the client).</param>
    public static IHostApplicationBuilder AddKbSyncClient(this IHostApplicationBuilder builder, string serviceName = "kbsync")
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
        AddTracing(builder, serviceName);
        return builder;
    }

    /// <summary>
    /// A request's trace starts where it is published: MassTransit's send span (its ActivitySource
    /// <c>MassTransit</c>) is the root here (or the child of whatever span is current, an HTTP request's
    /// in the API), and MassTransit carries it in the message to the worker, whose spans continue it.
    /// Exported as OpenTelemetry's own variables say: <c>OTEL_TRACES_EXPORTER</c> (<c>otlp</c>,
    /// <c>console</c>, <c>none</c>), or OTLP whenever <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; by
    /// default nowhere, and then no span is even created. The worker reads the same variables
    /// (<c>KbWorker/Telemetry/TraceExporters</c>).
    /// </summary>
    private static void AddTracing(IHostApplicationBuilder builder, string serviceName)
    {
        var named = builder.Configuration["OTEL_TRACES_EXPORTER"]?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var otlp = named?.Contains("otlp", StringComparer.OrdinalIgnoreCase)
            ?? !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? builder.Configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
        var console = named?.Contains("console", StringComparer.OrdinalIgnoreCase) ?? false;
        if (!otlp && !console)
        {
            return;
        }

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource =>
            {
                if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME")))
                {
                    resource.AddService(serviceName);
                }
            })
            .WithTracing(tracing =>
            {
                tracing.AddSource(DiagnosticHeaders.DefaultListenerName);
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }

                if (console)
                {
                    tracing.AddConsoleExporter();
                }
            });
    }
}

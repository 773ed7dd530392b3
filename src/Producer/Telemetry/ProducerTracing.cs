using KbSync.Producer.Client;
using MassTransit.Logging;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace KbSync.Producer.Telemetry;

/// <summary>
/// Traces of what the CLI and the API publish. Here, not in the client library: choosing exporters is
/// the program's business, and the library stays free of OpenTelemetry (a .NET producer traces its
/// publishes by adding the source <c>KbSync.Client</c> to its own tracer).
/// </summary>
public static class ProducerTracing
{
    /// <summary>
    /// A request's trace starts where it is published: the client's send span (ActivitySource
    /// <see cref="KbSyncClient.ActivitySourceName"/>) is the root here (or the child of whatever span is
    /// current, an HTTP request's in the API), and its context goes in the message (header
    /// <c>MT-Activity-Id</c>) to the worker, whose MassTransit receive (ActivitySource <c>MassTransit</c>,
    /// also added here for the result watch) and steps continue it.
    /// Exported as OpenTelemetry's own variables say: <c>OTEL_TRACES_EXPORTER</c> (<c>otlp</c>,
    /// <c>console</c>, <c>none</c>), or OTLP whenever <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; by
    /// default nowhere, and then no span is even created. The worker reads the same variables
    /// (<c>KbWorker/Telemetry/TraceExporters</c>).
    /// </summary>
    /// <param name="serviceName">What this process is called in traces (the CLI, the API).</param>
    public static IHostApplicationBuilder AddProducerTracing(this IHostApplicationBuilder builder, string serviceName)
    {
        var named = builder.Configuration["OTEL_TRACES_EXPORTER"]?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var otlp = named?.Contains("otlp", StringComparer.OrdinalIgnoreCase)
            ?? !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? builder.Configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
        var console = named?.Contains("console", StringComparer.OrdinalIgnoreCase) ?? false;
        if (!otlp && !console)
        {
            return builder;
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
                tracing.AddSource(DiagnosticHeaders.DefaultListenerName, KbSyncClient.ActivitySourceName);
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }

                if (console)
                {
                    tracing.AddConsoleExporter();
                }
            });
        return builder;
    }
}

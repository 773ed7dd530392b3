using MassTransit;
using MassTransit.Logging;
using MassTransit.Monitoring;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace KbSync.KbWorker.Telemetry;

public static class TelemetryExtensions
{
    /// <summary>
    /// OpenTelemetry metrics: the worker's own (<see cref="WorkerMetrics"/>) and MassTransit's, served
    /// for Prometheus at <c>KbWorker__MetricsUrl</c> + <c>/metrics</c> (e.g. <c>http://127.0.0.1:9465</c>: the API's own listener defaults to 9464; off when empty,
    /// since several workers on one machine would need a port each). Traces: MassTransit's spans and the
    /// worker's steps (<see cref="WorkerTracing"/>), exported as <see cref="TraceExporters"/> says (none by default).
    /// </summary>
    public static IHostApplicationBuilder AddKbWorkerTelemetry(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<WorkerMetrics>();
        builder.Services.AddSingleton<OperationTraces>();
        builder.Services.AddSingleton<OwnedPartitions>();
        builder.Services.AddReceiveEndpointObserver(services => services.GetRequiredService<OwnedPartitions>());
        AddTracing(builder);

        var url = builder.Configuration[$"{KbWorkerOptions.Section}:{nameof(KbWorkerOptions.MetricsUrl)}"];
        if (string.IsNullOrWhiteSpace(url))
        {
            return builder;
        }

        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(WorkerMetrics.MeterName)
            .AddMeter(InstrumentationOptions.MeterName)
            .AddPrometheusHttpListener(listener =>
            {
                var uri = new Uri(url);
                listener.Host = uri.Host;
                listener.Port = uri.Port;
                listener.ScrapeEndpointPath = "/metrics";
            }));
        return builder;
    }

    /// <summary>
    /// One trace per operation: MassTransit's own spans (its ActivitySource <c>MassTransit</c>: the
    /// producer's send, this worker's receive and consume, the result's publish) and the worker's step
    /// spans under them. Only when an exporter is configured: with no listener, neither MassTransit nor
    /// the worker creates a span at all.
    /// </summary>
    private static void AddTracing(IHostApplicationBuilder builder)
    {
        var exporters = TraceExporters.From(builder.Configuration);
        if (!exporters.Any)
        {
            return;
        }

        builder.Services.AddConsumeObserver(services => services.GetRequiredService<OperationTraces>());
        var workerId = builder.Configuration[$"{KbWorkerOptions.Section}:{nameof(KbWorkerOptions.WorkerId)}"] ?? Environment.MachineName;
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => TraceExporters.Name(resource, "kbsync-worker", workerId))
            .WithTracing(tracing => exporters.AddTo(tracing.AddSource(DiagnosticHeaders.DefaultListenerName, WorkerTracing.SourceName)));
    }
}

/// <summary>
/// Where spans go, from OpenTelemetry's own environment variables: <c>OTEL_TRACES_EXPORTER</c>
/// (<c>otlp</c>, <c>console</c> or <c>none</c>, comma-separated), or else OTLP whenever
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (or <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c>) is set; otherwise
/// nowhere. The OTLP exporter reads its endpoint, protocol and headers from those variables itself.
/// </summary>
public sealed record TraceExporters(bool Otlp, bool Console)
{
    public bool Any => Otlp || Console;

    public static TraceExporters From(IConfiguration configuration)
    {
        if (configuration["OTEL_TRACES_EXPORTER"] is { Length: > 0 } named)
        {
            var names = named.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            return new TraceExporters(names.Contains("otlp", StringComparer.OrdinalIgnoreCase), names.Contains("console", StringComparer.OrdinalIgnoreCase));
        }

        return new TraceExporters(!string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]), Console: false);
    }

    public TracerProviderBuilder AddTo(TracerProviderBuilder tracing)
    {
        if (Otlp)
        {
            tracing.AddOtlpExporter();
        }

        if (Console)
        {
            tracing.AddConsoleExporter();
        }

        return tracing;
    }

    /// <summary>The service's name and instance, unless <c>OTEL_SERVICE_NAME</c> names it (the SDK reads that itself).</summary>
    public static void Name(ResourceBuilder resource, string service, string instance)
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME")))
        {
            resource.AddService(service, serviceInstanceId: instance);
        }
    }
}

using MassTransit.Monitoring;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;

namespace KbSync.KbWorker.Telemetry;

public static class TelemetryExtensions
{
    /// <summary>
    /// OpenTelemetry metrics: the worker's own (<see cref="WorkerMetrics"/>) and MassTransit's, served
    /// for Prometheus at <c>KbWorker__MetricsUrl</c> + <c>/metrics</c> (e.g. <c>http://localhost:9464</c>; off when empty,
    /// since several workers on one machine would need a port each).
    /// </summary>
    public static IHostApplicationBuilder AddKbWorkerTelemetry(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<WorkerMetrics>();
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
}

using System.CommandLine;
using KbSync.Contracts;
using KbSync.Persistence;
using KbSync.Producer.Api.Dashboard;
using KbSync.Producer.Client;
using OpenTelemetry.Metrics;

namespace KbSync.Producer.Api;

/// <summary><c>kbsync api [--urls URL]</c>: serve the HTTP API (and its OpenAPI document at /openapi/v1.json).</summary>
internal static class ApiCommand
{
    public static Command Create()
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen.", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var command = new Command("api", "Serve the HTTP API.") { urls };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
            builder.WebHost.UseUrls(parse.GetValue(urls)!);
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = RequestLimits.MaxRequestBytes); // past it: 413
            builder.AddKbSyncPersistence();
            builder.AddKbSyncClient();
            builder.Services.AddOpenApi();
            builder.Services.AddHostedService<ApiMetrics>();
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter(ApiMetrics.MeterName)
                .AddMeter(MassTransit.Monitoring.InstrumentationOptions.MeterName)
                .AddPrometheusExporter());
            builder.Services.AddProblemDetails();

            var app = builder.Build();
            await app.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
            app.UseExceptionHandler();
            app.UseStatusCodePages(); // answers the framework gives without a body (413 for a body past the limit, say) get problem details too
            app.MapOpenApi();
            app.MapPrometheusScrapingEndpoint(); // /metrics
            app.MapKbSyncApi();
            app.MapDashboard();
            await app.RunAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}

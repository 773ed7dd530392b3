using System.CommandLine;
using KbSync.Contracts;
using KbSync.Persistence;
using KbSync.Persistence.Analytics.Rollups;
using KbSync.Persistence.QueueTap;
using KbSync.Producer.Api.Dashboard;
using KbSync.Producer.Api.Security;
using KbSync.Producer.Client;
using KbSync.Producer.Telemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace KbSync.Producer.Api;

/// <summary>
/// <c>kbsync api [--urls URL] [--metrics-urls URL]</c>: serve the HTTP API (and its OpenAPI document at
/// /openapi/v1.json) and, on a listener of its own, the Prometheus metrics (<see cref="MetricsListener"/>).
/// </summary>
internal static class ApiCommand
{
    public static Command Create()
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen (';' between several).", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var metricsUrls = new Option<string>("--metrics-urls")
        {
            Description = "Where /metrics listens: a port of its own, loopback by default (its labels name every KB).",
            DefaultValueFactory = _ => MetricsListener.DefaultUrls,
        };
        var command = new Command("api", "Serve the HTTP API.") { urls, metricsUrls };
        command.SetAction(async (parse, cancellationToken) =>
        {
            MetricsListener metrics;
            try
            {
                metrics = MetricsListener.Parse(parse.GetValue(metricsUrls)!, parse.GetValue(urls)!);
            }
            catch (ArgumentException error)
            {
                Console.Error.WriteLine(error.Message);
                return 2;
            }

            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
            builder.WebHost.UseUrls([.. parse.GetValue(urls)!.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), .. metrics.Addresses.Select(a => a.ToString())]);
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = RequestLimits.MaxRequestBytes); // past it: 413
            builder.AddKbSyncPersistence();
            builder.AddKbSyncClient();
            builder.AddProducerTracing(serviceName: "kbsync-api");
            builder.AddQueueTap(); // positions and /queues hold with no worker running
            builder.AddRollupBuilder(); // the statistics' rollups are built with no worker running too
            builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddSource("Microsoft.AspNetCore")); // when traced: the request's span, the publish's parent
            builder.AddKbSyncApiSecurity();
            builder.Services.AddSingleton<RelayPublisher>();
            builder.Services.AddOpenApi();
            builder.Services.AddHostedService<ApiMetrics>();
            builder.Services.AddOpenTelemetry().WithMetrics(meters => meters
                .AddMeter(ApiMetrics.MeterName)
                .AddMeter(MassTransit.Monitoring.InstrumentationOptions.MeterName)
                .AddPrometheusExporter());
            builder.Services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
            {
                SignInPage.ExplainAntiforgery(context);
                BindingProblems.ExplainUnsupportedMediaType(context);
            });
            builder.Services.Configure<RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = true); // binding failures reach BindingProblems
            builder.Services.AddExceptionHandler<BindingProblems>();

            var app = builder.Build();
            foreach (var exposed in metrics.NotLoopback())
            {
                app.Logger.LogWarning("The metrics listener {Address} is not a loopback address: its labels name every KB; let only the scraper reach it", exposed);
            }

            await app.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
            await WarnOfAnotherLayoutAsync(app, cancellationToken);
            app.UseExceptionHandler();
            app.UseStatusCodePages(); // answers the framework gives without a body (413 for a body past the limit, say) get problem details too
            metrics.Map(app); // before authentication: the scraper has no token
            app.UseRouting();
            app.UseAuthentication();
            app.UseAuthorization();
            app.UseAntiforgery();
            app.UseKbRouteCheck();
            app.MapOpenApi();
            app.MapKbSyncApi();
            app.MapDashboard();
            app.MapSignIn();
            await app.RunAsync(cancellationToken);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The API routes with its own <c>RabbitMq__Partitions</c>, as every .NET producer does; after <c>kbsync partitions
    /// change</c> that may be an older layout's count: requests still land (the workers forward them), but the
    /// operator should know, and set the current count.
    /// </summary>
    private static async Task WarnOfAnotherLayoutAsync(WebApplication app, CancellationToken cancellationToken)
    {
        var partitions = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Contracts.RabbitMqOptions>>().Value.Partitions;
        var layouts = await app.Services.GetRequiredService<Persistence.Partitions.PartitionLayouts>().ReadAsync(partitions, cancellationToken);
        if (layouts.Current.Count != partitions)
        {
            app.Logger.LogWarning("RabbitMq__Partitions is {Partitions}, but the current partition layout has {Current} partitions ({Layout}): " +
                "requests routed with {Partitions} are forwarded by the workers while that layout is live and refused once it is retired; set RabbitMq__Partitions={Current}.",
                partitions, layouts.Current.Count, layouts.Current, partitions, layouts.Current.Count);
        }
    }
}

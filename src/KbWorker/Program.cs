using KbSync.KbWorker;
using KbSync.KbWorker.Messaging;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence;
using KbSync.Persistence.Analytics.Rollups;
using KbSync.Persistence.QueueTap;

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddCommandLine(args, new Dictionary<string, string>
{
    ["--id"] = "KbWorker:WorkerId",
    ["--data"] = "KbWorker:DataPath",
});

builder.AddKbSyncPersistence();
builder.AddKbWorker();
builder.AddKbMessaging();
builder.AddQueueTap();
builder.AddRollupBuilder();
builder.AddKbWorkerTelemetry();

try
{
    builder.Build().Run();
}
catch (OperationCanceledException)
{
    // stopped (SIGTERM) while still starting, waiting for PostgreSQL or RabbitMQ: nothing was taken, nothing to hand over
}

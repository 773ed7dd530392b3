using KbSync.Contracts;
using KbSync.Persistence;
using KbSync.Producer.Client;
using KbSync.Producer.Telemetry;

namespace KbSync.Producer.Cli;

/// <summary>
/// The services one CLI command needs: the history database when the command reads or changes it
/// (migrated before the command runs: one query when the schema is current), the broker only when the
/// command starts it (<see cref="StartMessagingAsync"/>), and registered only for the commands that
/// publish. A command that only publishes is created without
/// <c>migrate</c> and never opens the database: a producer's machine needs neither PostgreSQL nor its
/// credentials. Configuration comes from environment variables (<c>RabbitMq__Host</c>,
/// <c>ConnectionStrings__KbSync</c>...) like the worker's.
/// </summary>
internal sealed class CliHost : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _started;

    private CliHost(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    /// <param name="migrate">The command uses the database: its schema is brought up to date first, since any such command may be the first run against a new database.</param>
    public static async Task<CliHost> CreateAsync(bool migrate, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = false, Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Critical); // failures reach the user as one error line
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning); // "Application started" is no news to a command's user
        builder.AddKbSyncPersistence(); // registers, opens nothing: only a command's own queries do
        // the broker's settings for every command: 'kbsync partitions' reads the database and talks to the broker
        // on a plain connection; without the binding it would get the defaults (another virtual host)
        builder.Services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.Section);
        if (!migrate)
        {
            // only the commands that publish (created without migrate) use the broker: the others do not pay for
            // registering MassTransit and the tracer (a good part of a cold kbsync stats, docs/benchmarks.md)
            builder.AddKbSyncClient();
            builder.AddProducerTracing(serviceName: "kbsync");
        }
        var host = new CliHost(builder.Build());
        if (migrate)
        {
            await host.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
        }

        return host;
    }

    /// <summary>How long <c>note</c> and <c>agent</c> wait for a broker node to take the request (<see cref="PublishDeadline"/>).</summary>
    public static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(30);

    public async Task<KbSyncClient> StartMessagingAsync(CancellationToken cancellationToken)
    {
        if (!_started)
        {
            await _host.StartAsync(cancellationToken);
            _started = true;
        }

        return Services.GetRequiredService<KbSyncClient>();
    }

    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            await _host.StopAsync();
        }

        _host.Dispose();
    }
}

using KbSync.Persistence;
using KbSync.Producer.Client;

namespace KbSync.Producer.Cli;

/// <summary>
/// The services one CLI command needs: the history database always, the broker only when the
/// command starts it (<see cref="StartMessagingAsync"/>). Configuration comes from environment
/// variables (<c>RabbitMq__Host</c>, <c>ConnectionStrings__KbSync</c>...) like the worker's.
/// </summary>
internal sealed class CliHost : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _started;

    private CliHost(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    public static async Task<CliHost> CreateAsync(CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = false, Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Critical); // failures reach the user as one error line
        builder.AddKbSyncPersistence();
        builder.AddKbSyncClient();
        var host = new CliHost(builder.Build());
        await host.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
        return host;
    }

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

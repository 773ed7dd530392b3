using KbSync.Producer.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>A producer using the .NET client library, in-process, with its own bus connection.</summary>
public sealed class ProducerHost : IAsyncDisposable
{
    private readonly IHost _host;

    private ProducerHost(IHost host) => _host = host;

    public KbSyncClient Client => _host.Services.GetRequiredService<KbSyncClient>();

    public static async Task<ProducerHost> StartAsync(IReadOnlyDictionary<string, string> environment)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(environment.Select(e => new KeyValuePair<string, string?>(e.Key.Replace("__", ":"), e.Value)));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddKbSyncClient();
        var host = builder.Build();
        await host.StartAsync();
        return new ProducerHost(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

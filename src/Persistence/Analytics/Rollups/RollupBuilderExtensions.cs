using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KbSync.Persistence.Analytics.Rollups;

public static class RollupBuilderExtensions
{
    /// <summary>
    /// Runs a <see cref="RollupBuilder"/> in this process (workers and the API; one builds at a time),
    /// with <see cref="RollupBuilderOptions"/> from section <c>Rollups</c>. Needs <c>AddKbSyncPersistence</c>.
    /// </summary>
    public static IHostApplicationBuilder AddRollupBuilder(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RollupBuilderOptions>().BindConfiguration(RollupBuilderOptions.Section);
        builder.Services.AddSingleton<RollupBuilder>();
        builder.Services.AddHostedService(services => services.GetRequiredService<RollupBuilder>());
        return builder;
    }
}

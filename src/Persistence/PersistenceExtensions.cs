using KbSync.Persistence.Analytics;
using KbSync.Persistence.History;
using KbSync.Persistence.KnowledgeBases;
using KbSync.Persistence.Partitions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KbSync.Persistence;

public static class PersistenceExtensions
{
    /// <summary>The connection string used when <c>ConnectionStrings__KbSync</c> is not set: the one <c>./dev services up</c> provides.</summary>
    public const string DevelopmentConnectionString = "Host=localhost;Port=5432;Database=kbsync;Username=kbsync;Password=kbsync";

    /// <summary>
    /// Registers the history database (connection string <c>ConnectionStrings:KbSync</c>), the KB
    /// registry, the history queries and writes.
    /// </summary>
    public static IHostApplicationBuilder AddKbSyncPersistence(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString("KbSync") ?? DevelopmentConnectionString;
        builder.Services.AddPooledDbContextFactory<KbSyncDbContext>(options => Configure(options, connectionString));
        builder.Services.AddSingleton(new HistoryConnection(connectionString));
        builder.Services.AddSingleton<DatabaseMigrator>();
        builder.Services.AddSingleton<KbRegistry>();
        AddRemoteRules(builder);
        builder.Services.AddSingleton<OperationHistory>();
        builder.Services.AddSingleton<QueueArrivals>();
        builder.Services.AddSingleton<OperationWrites>();
        builder.Services.AddSingleton<OperationAnalytics>();
        builder.Services.AddSingleton<PartitionPauses>();
        builder.Services.AddSingleton<PartitionLayouts>();
        builder.Services.AddSingleton<Identity.IdentityStore>();
        builder.Services.AddOptions<HistoryOptions>().BindConfiguration(HistoryOptions.Section);
        builder.Services.AddSingleton<HistoryRetention>();
        return builder;
    }

    /// <summary>
    /// <see cref="RemoteOptions"/> from section <c>Remotes</c>, for the registry and the workers alike. The
    /// <c>KbWorker__DataPath</c> of this process's settings is added to the folders local remotes may
    /// not be in: the registry's process knows the data path a worker on this machine was given.
    /// </summary>
    private static void AddRemoteRules(IHostApplicationBuilder builder)
    {
        var dataPath = builder.Configuration["KbWorker:DataPath"];
        builder.Services.AddOptions<RemoteOptions>().BindConfiguration(RemoteOptions.Section).PostConfigure(options =>
        {
            if (!string.IsNullOrWhiteSpace(dataPath))
            {
                options.WorkerDataPaths.Add(dataPath);
            }
        });
        builder.Services.AddSingleton<RemoteRules>();
    }

    internal static DbContextOptionsBuilder Configure(DbContextOptionsBuilder options, string connectionString) =>
        options.UseNpgsql(connectionString).UseSnakeCaseNamingConvention();
}

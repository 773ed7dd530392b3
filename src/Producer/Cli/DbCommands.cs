using System.CommandLine;
using KbSync.Persistence;

namespace KbSync.Producer.Cli;

/// <summary><c>kbsync db migrate</c>: bring the history database to the current schema.</summary>
internal static class DbCommands
{
    public static Command Create()
    {
        var migrate = new Command("migrate", "Apply the database migrations (workers also do this when they start).");
        migrate.SetAction((_, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var applied = await host.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
            Console.WriteLine(applied.Count == 0 ? "The database is up to date." : $"Applied: {string.Join(", ", applied)}");
            return 0;
        }, cancellationToken));
        return new Command("db", "Database maintenance.") { migrate };
    }
}

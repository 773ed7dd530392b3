using System.CommandLine;
using KbSync.Persistence;
using KbSync.Persistence.History;
using KbSync.Producer.Api;

namespace KbSync.Producer.Cli;

/// <summary>
/// <c>kbsync db migrate</c>: bring the history database to the current schema;
/// <c>kbsync db prune</c>: delete finished operations older than the retention.
/// </summary>
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
        return new Command("db", "Database maintenance.") { migrate, Prune() };
    }

    private static Command Prune()
    {
        var olderThan = new Option<string?>("--older-than")
        {
            Description = "Delete finished operations requested longer ago than this (30d, 12h). Default: History__RetentionDays.",
        };
        var prune = new Command("prune", "Delete finished operations older than the retention (queued and running ones are kept).") { olderThan };
        prune.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            var retention = host.Services.GetRequiredService<HistoryRetention>();
            TimeSpan age;
            if (parse.GetValue(olderThan) is { } text)
            {
                age = StatsRequest.ParseDuration(text, "--older-than");
            }
            else if (retention.Configured is { } configured)
            {
                age = configured;
            }
            else
            {
                Console.WriteLine("Nothing pruned: the retention is to keep everything (set History__RetentionDays or pass --older-than).");
                return 0;
            }

            var cutoff = DateTimeOffset.UtcNow - age;
            var deleted = await retention.PruneAsync(cutoff, cancellationToken);
            Console.WriteLine($"Pruned {deleted} finished operation(s) requested before {cutoff:yyyy-MM-dd HH:mm:ss} UTC.");
            return 0;
        }, cancellationToken));
        return prune;
    }
}

using System.CommandLine;
using KbSync.Persistence;
using KbSync.Persistence.History;
using KbSync.Persistence.Identity;
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
        var admin = new Option<string?>("--admin") { Description = "On a database without an administrator: create this one and print its API token (once)." };
        var email = new Option<string?>("--email") { Description = "The administrator's e-mail (default: <name>@<KbWorker__AuthorEmailDomain default>)." };
        var migrate = new Command("migrate", "Apply the database migrations (workers also do this when they start).") { admin, email };
        migrate.SetAction((parse, cancellationToken) => KbSyncCli.RunAsync(async host =>
        {
            if (parse.GetValue(email) is not null && parse.GetValue(admin) is null)
            {
                throw new ArgumentException("--email is the new administrator's e-mail: give --admin NAME with it.");
            }

            var applied = await host.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
            var status = parse.GetValue(admin) is null ? Console.Out : Console.Error; // with --admin, standard output is the token alone
            status.WriteLine(applied.Count == 0 ? "The database is up to date." : $"Applied: {string.Join(", ", applied)}");
            if (parse.GetValue(admin) is { } name)
            {
                var created = await host.Services.GetRequiredService<IdentityStore>()
                    .BootstrapAdminAsync(name, parse.GetValue(email) ?? $"{name}@users.kbsync.invalid", cancellationToken);
                if (created is { } first)
                {
                    Console.Error.WriteLine($"Created administrator {first.Admin.Name}; its API token (shown once):");
                    Console.WriteLine(first.Token);
                }
                else
                {
                    Console.Error.WriteLine("An administrator exists already: none was created (add more with 'kbsync user add --role admin').");
                }
            }

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

using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence;

/// <summary>
/// Applies the checked-in migrations. Safe to call from several processes at once: EF Core takes a
/// database lock around the migration.
/// </summary>
public sealed class DatabaseMigrator(IDbContextFactory<KbSyncDbContext> contexts)
{
    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count > 0)
        {
            await db.Database.MigrateAsync(cancellationToken);
        }

        return pending;
    }
}

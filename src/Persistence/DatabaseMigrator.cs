using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace KbSync.Persistence;

/// <summary>
/// Applies the checked-in migrations. Safe to call from several processes at once (two workers
/// starting on a fresh database, a worker and <c>kbsync db migrate</c>): the whole check-and-migrate
/// runs under a PostgreSQL advisory lock, so the second process finds the first one's migrations
/// applied. EF Core's own lock did not cover it: two workers on a fresh database both applied a
/// migration, and the second failed on a column the first had just added.
/// </summary>
public sealed class DatabaseMigrator(IDbContextFactory<KbSyncDbContext> contexts)
{
    /// <summary>The advisory lock key: "kbsync-migrate" (partition ownership uses its own keys).</summary>
    private const long LockKey = 0x6b6273796e634d;

    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // not pooled: a pooled connection goes back to the pool with its session, and the lock with it
        var unpooled = new NpgsqlConnectionStringBuilder(db.Database.GetConnectionString()) { Pooling = false }.ConnectionString;
        await using var gate = new NpgsqlConnection(unpooled);
        await gate.OpenAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_advisory_lock({LockKey})", gate))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        // the lock is the session's: closing the connection (at the end, or when a process dies) releases it
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count > 0)
        {
            await db.Database.MigrateAsync(cancellationToken);
        }

        return pending;
    }
}

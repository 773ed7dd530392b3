using System.Reflection;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql;

namespace KbSync.Persistence;

/// <summary>
/// Applies the checked-in migrations. Safe to call from several processes at once (two workers
/// starting on a fresh database, a worker and <c>kbsync db migrate</c>): the whole check-and-migrate
/// runs under a PostgreSQL advisory lock, so the second process finds the first one's migrations
/// applied. EF Core's own lock did not cover it: two workers on a fresh database both applied a
/// migration, and the second failed on a column the first had just added.
/// </summary>
public sealed class DatabaseMigrator(IDbContextFactory<KbSyncDbContext> contexts, HistoryConnection? connection = null)
{
    /// <summary>The advisory lock key: "kbsync-migrate" (partition ownership uses its own keys).</summary>
    private const long LockKey = 0x6b6273796e634d;

    /// <summary>The ids of the migrations in this assembly (reflection only: no EF Core model is built for them).</summary>
    private static readonly Lazy<string[]> KnownMigrations = new(() => typeof(KbSyncDbContext).Assembly.GetTypes()
        .Select(t => t.GetCustomAttribute<MigrationAttribute>()?.Id)
        .OfType<string>()
        .Order(StringComparer.Ordinal)
        .ToArray());

    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken cancellationToken = default)
    {
        if (await IsCurrentAsync(HistoryConnection.Resolve(connection, contexts), cancellationToken))
        {
            return [];
        }

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

    /// <summary>
    /// Whether every migration of this assembly is applied, by one query on plain Npgsql. What most
    /// calls find (every CLI command that reads the database checks first): EF Core's own check builds
    /// the model and reads the migrations (about 2.8 s of a <c>kbsync stats</c> on this machine, see
    /// docs/benchmarks.md); this costs one round trip. Anything else (a table missing, a migration not
    /// applied) goes the full way, under the lock.
    /// </summary>
    private static async Task<bool> IsCurrentAsync(string connectionString, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("""SELECT coalesce(array_agg(migration_id), '{}') FROM "__EFMigrationsHistory" WHERE migration_id = ANY(@known)""", connection);
            command.Parameters.AddWithValue("known", KnownMigrations.Value);
            var applied = (string[])(await command.ExecuteScalarAsync(cancellationToken))!;
            return applied.Length == KnownMigrations.Value.Length;
        }
        catch (PostgresException error) when (error.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return false; // a new database
        }
    }
}

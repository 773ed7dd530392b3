using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence;

/// <summary>
/// The history database's connection string, for the code that talks to PostgreSQL on plain Npgsql
/// (the statistics, the migration check): a cold process that asks EF Core for it
/// (<c>Database.GetConnectionString()</c>) first builds EF Core's services and model, 1.1 to 1.5 s of a
/// <c>kbsync stats</c> on this machine (docs/benchmarks.md), which a read that never uses EF Core
/// need not pay.
/// </summary>
public sealed class HistoryConnection(string connectionString)
{
    public string ConnectionString { get; } = connectionString;

    /// <summary><paramref name="connection"/>'s string, or (when none was registered, as in tests that build a factory alone) the one EF Core has.</summary>
    internal static string Resolve(HistoryConnection? connection, IDbContextFactory<KbSyncDbContext> contexts)
    {
        if (connection is not null)
        {
            return connection.ConnectionString;
        }

        using var db = contexts.CreateDbContext();
        return db.Database.GetConnectionString()!;
    }
}

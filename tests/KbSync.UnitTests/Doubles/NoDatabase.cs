using KbSync.Persistence;
using Microsoft.EntityFrameworkCore;

namespace KbSync.UnitTests.Doubles;

/// <summary>No database: for what writes to it only at best effort (a partition's pause record, the running step shown in history), which a unit test must not need.</summary>
public sealed class NoDatabase : IDbContextFactory<KbSyncDbContext>
{
    public KbSyncDbContext CreateDbContext() => throw new InvalidOperationException("no database in unit tests");
}

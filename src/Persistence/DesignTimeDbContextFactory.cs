using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace KbSync.Persistence;

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without a host.</summary>
public sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<KbSyncDbContext>
{
    public KbSyncDbContext CreateDbContext(string[] args)
    {
        var connectionString = Environment.GetEnvironmentVariable("ConnectionStrings__KbSync") ?? PersistenceExtensions.DevelopmentConnectionString;
        var options = PersistenceExtensions.Configure(new DbContextOptionsBuilder<KbSyncDbContext>(), connectionString);
        return new KbSyncDbContext((DbContextOptions<KbSyncDbContext>)options.Options);
    }
}

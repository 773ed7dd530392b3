using KbSync.Persistence;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Testcontainers.PostgreSql;

namespace KbSync.IntegrationTests.Fixtures;

/// <summary>
/// The real PostgreSQL the tests use: a Testcontainers server where a Docker engine answers,
/// otherwise the one <c>./dev services up</c> started (<c>ConnectionStrings__KbSync</c> overrides it).
/// Each test gets its own database, migrated like a worker would, and dropped afterwards.
/// </summary>
public sealed class PostgresService : IAsyncLifetime
{
    private PostgreSqlContainer? _container;

    public string AdminConnectionString { get; private set; } =
        Environment.GetEnvironmentVariable("ConnectionStrings__KbSync") ?? PersistenceExtensions.DevelopmentConnectionString;

    public async Task InitializeAsync()
    {
        if (DockerEngine.Answers())
        {
            _container = new PostgreSqlBuilder("postgres:16").WithUsername("kbsync").WithPassword("kbsync").WithDatabase("kbsync").Build();
            await _container.StartAsync();
            AdminConnectionString = _container.GetConnectionString();
        }

        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
    }

    /// <param name="migrated">False: an empty database, as a first deployment finds it (the workers migrate it).</param>
    public async Task<TestDatabase> CreateDatabaseAsync(bool migrated = true)
    {
        var name = "kbsync_test_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync($"CREATE DATABASE {name}");
        var connectionString = new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, Pooling = false }.ConnectionString;
        var database = new TestDatabase(this, name, connectionString);
        if (migrated)
        {
            await using var db = database.CreateContext();
            await db.Database.MigrateAsync();
        }

        return database;
    }

    internal async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }
}

public sealed class TestDatabase(PostgresService service, string name, string connectionString) : IAsyncDisposable
{
    public string ConnectionString { get; } = connectionString;

    public KbSyncDbContext CreateContext() =>
        new(new DbContextOptionsBuilder<KbSyncDbContext>().UseNpgsql(ConnectionString).UseSnakeCaseNamingConvention().Options);

    /// <summary>This database as the factory the product's stores take.</summary>
    public IDbContextFactory<KbSyncDbContext> Factory() => new ContextFactory(this);

    private sealed class ContextFactory(TestDatabase database) : IDbContextFactory<KbSyncDbContext>
    {
        public KbSyncDbContext CreateDbContext() => database.CreateContext();
    }

    /// <summary>
    /// Drops the database, retrying while an autovacuum worker (on the catalogs of a freshly migrated
    /// database) makes <c>DROP DATABASE ... WITH (FORCE)</c> fail with 42501: the kbsync role may not terminate it.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await service.ExecuteAsync($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege && attempt < 40)
            {
                await Task.Delay(250);
            }
        }
    }
}

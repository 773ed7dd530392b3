using System.Data;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KbSync.Persistence.Analytics.Rollups;

/// <summary>Settings of <see cref="RollupBuilder"/>, section <c>Rollups</c>.</summary>
public sealed class RollupBuilderOptions
{
    public const string Section = "Rollups";

    /// <summary>
    /// A minute is sealed (built into the rollups) once it is this old. Until then its events are read
    /// from the raw rows. Writes that land in a sealed minute later are logged and applied too, so this
    /// only saves work: most operations finish within it.
    /// </summary>
    public int GraceSeconds { get; set; } = 60;

    /// <summary>How often the builder looks for minutes to seal and changes to apply once it has caught up.</summary>
    public int IntervalSeconds { get; set; } = 5;

    /// <summary>The most history one round seals (one transaction): a catch-up over a long history goes a day at a time.</summary>
    public int BatchHours { get; set; } = 24;

    /// <summary>Run the builder in this process (every worker and every API process does by default; one of them builds at a time).</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>
/// Builds the statistics' rollups from the raw history, in the background, in every worker and every
/// API process; one at a time builds, the one holding PostgreSQL advisory lock 4711016002 (a session
/// lock on its own connection: if the process dies, the connection closes and another takes over).
/// Each round is two short transactions: <c>kbsync_rollups_claim</c> picks the window to seal (up to
/// <see cref="RollupBuilderOptions.BatchHours"/>, never closer to now than the grace), and
/// <c>kbsync_rollups_build</c> applies the logged late changes and seals the window (see the AddRollups
/// migration). Nothing is built in the workers' own transactions: finishing an operation writes only its
/// row (and a log row when it lands in a sealed minute), so workers never wait for each other on rollup
/// rows. A history that was there before the rollups is caught up the same way, a day per round, logged.
/// </summary>
public sealed class RollupBuilder(
    IDbContextFactory<KbSyncDbContext> contexts, IOptions<RollupBuilderOptions> options, ILogger<RollupBuilder> logger) : BackgroundService
{
    /// <summary>The session advisory lock the builder holds: "one builder at a time".</summary>
    public const long BuilderLockKey = 4711016002;

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return;
        }

        var interval = TimeSpan.FromSeconds(Math.Max(1, settings.IntervalSeconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await OpenAsync(stoppingToken);
                if (!await TryLeadAsync(connection, stoppingToken))
                {
                    await Task.Delay(interval * 2, stoppingToken);
                    continue;
                }

                logger.LogInformation("This process builds the statistics' rollups");
                while (!stoppingToken.IsCancellationRequested)
                {
                    await RunRoundsAsync(connection, stoppingToken);
                    await Task.Delay(interval, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error) when (error is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                // the database is not there yet, not migrated yet, or went away: try again later
                logger.LogWarning("The rollup builder stopped and will try again: {Reason}", error.Message);
                try
                {
                    await Task.Delay(interval * 2, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Builds until the rollups hold everything older than the grace and no logged change is left, as
    /// the elected builder (waits for the lock if another process holds it). For tests, benchmarks and
    /// operators who want the rollups current now.
    /// </summary>
    public async Task<RollupProgress> CatchUpAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using (var take = Command(connection, $"SELECT pg_advisory_lock({BuilderLockKey})"))
        {
            await take.ExecuteNonQueryAsync(cancellationToken);
        }

        return await RunRoundsAsync(connection, cancellationToken);
    }

    /// <summary>Rounds until one claims nothing new and applies no change.</summary>
    private async Task<RollupProgress> RunRoundsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var grace = TimeSpan.FromSeconds(Math.Max(0, settings.GraceSeconds));
        var batch = TimeSpan.FromHours(Math.Max(1, settings.BatchHours));
        for (var rounds = 1; ; rounds++)
        {
            var sealedBefore = await ReadSealedAsync(connection, cancellationToken);
            await using (var claim = Command(connection, "SELECT kbsync_rollups_claim(@batch, @grace)"))
            {
                claim.Parameters.AddWithValue("batch", batch);
                claim.Parameters.AddWithValue("grace", grace);
                await claim.ExecuteScalarAsync(cancellationToken);
            }

            var clock = Stopwatch.StartNew();
            long applied;
            await using (var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken))
            {
                await using var build = Command(connection, "SELECT kbsync_rollups_build()");
                build.Transaction = transaction;
                applied = (long)(await build.ExecuteScalarAsync(cancellationToken))!;
                await transaction.CommitAsync(cancellationToken);
            }

            var sealedAfter = await ReadSealedAsync(connection, cancellationToken);
            if (sealedAfter != sealedBefore && sealedAfter < DateTimeOffset.UtcNow - grace - TimeSpan.FromHours(1))
            {
                logger.LogInformation("Rollups caught up to {SealedUntil:u} ({Applied} operations, {Milliseconds} ms)", sealedAfter, applied, clock.ElapsedMilliseconds);
            }

            if (sealedAfter == sealedBefore && applied == 0)
            {
                return new RollupProgress(sealedAfter, rounds);
            }
        }
    }

    private static async Task<DateTimeOffset> ReadSealedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var read = Command(connection, "SELECT sealed_until FROM rollup_state WHERE id = 1");
        var value = await read.ExecuteScalarAsync(cancellationToken);
        return value is DateTime at && at != DateTime.MinValue ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : DateTimeOffset.MinValue;
    }

    private static async Task<bool> TryLeadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var take = Command(connection, $"SELECT pg_try_advisory_lock({BuilderLockKey})");
        return (bool)(await take.ExecuteScalarAsync(cancellationToken))!;
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        string connectionString;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            connectionString = db.Database.GetConnectionString()!;
        }

        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql) =>
        new(sql, connection) { CommandTimeout = (int)CommandTimeout.TotalSeconds };
}

/// <summary>Where the rollups are sealed to (<see cref="DateTimeOffset.MinValue"/>: no history yet) after <paramref name="Rounds"/> rounds, the last of which found nothing to do.</summary>
public readonly record struct RollupProgress(DateTimeOffset SealedUntil, int Rounds);

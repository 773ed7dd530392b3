using KbSync.Contracts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KbSync.Persistence.History;

/// <summary>Settings of section <c>History</c> (<c>History__RetentionDays</c>).</summary>
public sealed class HistoryOptions
{
    public const string Section = "History";

    /// <summary>Finished operations requested longer ago than this many days may be pruned; unset keeps everything.</summary>
    public int? RetentionDays { get; set; }
}

/// <summary>
/// Deletes old history: finished operations (succeeded, duplicate, failed, timed out) requested
/// before a cut-off. Queued and running operations are never deleted, whatever their age. Deletes
/// in batches so that workers writing history are never blocked for long.
/// </summary>
public sealed class HistoryRetention(IDbContextFactory<KbSyncDbContext> contexts, IOptions<HistoryOptions> options)
{
    private const int BatchSize = 10_000;

    /// <summary>The configured retention, or null when history is kept forever.</summary>
    public TimeSpan? Configured => options.Value.RetentionDays switch
    {
        null => null,
        < 1 and var days => throw new ArgumentException($"History__RetentionDays must be at least 1 (it is {days}); leave it unset to keep everything."),
        var days => TimeSpan.FromDays(days.Value),
    };

    /// <summary>Deletes the finished operations requested before <paramref name="cutoff"/>; returns how many.</summary>
    public async Task<int> PruneAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default)
    {
        string[] open = [OperationStatus.Queued.ToWireName(), OperationStatus.Running.ToWireName()];
        var deleted = 0;
        while (true)
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var batch = await db.Database.ExecuteSqlAsync(
                $"""
                DELETE FROM operations WHERE id IN (
                    SELECT id FROM operations WHERE requested_at < {cutoff.UtcDateTime} AND NOT (status = ANY ({open})) LIMIT {BatchSize})
                """,
                cancellationToken);
            deleted += batch;
            if (batch < BatchSize)
            {
                return deleted;
            }
        }
    }
}

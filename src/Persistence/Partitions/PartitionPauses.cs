using KbSync.Persistence.Entities;
using KbSync.Persistence.History;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence.Partitions;

/// <summary>
/// Which partitions are paused and why (<see cref="PartitionPauseRecord"/>). Workers write it while
/// they retry a run, the queue view reads it. When PostgreSQL itself is what is down, nothing can be
/// written here: the worker's log and its <c>kbsync.partition.paused</c> metric say so instead.
/// </summary>
public sealed class PartitionPauses(IDbContextFactory<KbSyncDbContext> contexts)
{
    public const int MaxReasonLength = 2000;

    public async Task PauseAsync(int partition, string workerId, string kbId, string reason, int attempts, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        reason = Storable.Text(reason, MaxReasonLength);
        workerId = Storable.Text(workerId, OperationColumns.WorkerId);
        kbId = Storable.Text(kbId, Contracts.KbIds.MaxLength); // a group's KB id may be whatever a request said
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync(
            $"""
            INSERT INTO partition_pauses (partition, worker_id, kb_id, since, updated_at, reason, attempts)
            VALUES ({partition}, {workerId}, {kbId}, {now}, {now}, {reason}, {attempts})
            ON CONFLICT (partition) DO UPDATE SET
                worker_id = excluded.worker_id, kb_id = excluded.kb_id, updated_at = excluded.updated_at,
                reason = excluded.reason, attempts = excluded.attempts
            """, cancellationToken);
    }

    /// <summary>Ends a partition's pause (its run went through, or it changed owner).</summary>
    public async Task ResumeAsync(int partition, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.PartitionPauses.Where(p => p.Partition == partition).ExecuteDeleteAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<PartitionPauseRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.PartitionPauses.AsNoTracking().OrderBy(p => p.Partition).ToListAsync(cancellationToken);
    }
}

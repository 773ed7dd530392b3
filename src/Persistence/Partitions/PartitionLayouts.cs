using KbSync.Contracts;
using KbSync.Persistence.Entities;
using KbSync.Persistence.History;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence.Partitions;

/// <summary>
/// The partition layouts, kept in PostgreSQL (<see cref="PartitionLayoutRecord"/>, <see cref="PartitionDrainRecord"/>):
/// workers read them to know which queues to declare, consume, hold back or forward; the API routes with the
/// current one; <c>kbsync partitions</c> shows and changes them. The first layout is recorded by whoever reads
/// first, from its <c>RabbitMq__Partitions</c>: the count every producer and worker had to agree on before.
/// </summary>
public sealed class PartitionLayouts(IDbContextFactory<KbSyncDbContext> contexts)
{
    /// <summary>The live layouts and drains, the first layout recorded with <paramref name="firstCount"/> partitions if there is none yet.</summary>
    public async Task<LayoutSet> ReadAsync(int firstCount, CancellationToken cancellationToken)
    {
        PartitionLayout.CheckCount(firstCount, "RabbitMq__Partitions");
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = DateTimeOffset.UtcNow;
        await db.Database.ExecuteSqlAsync(
            $"""
            INSERT INTO partition_layouts (epoch, partitions, changed_at)
            SELECT {PartitionLayout.FirstEpoch}, {firstCount}, {now} WHERE NOT EXISTS (SELECT 1 FROM partition_layouts)
            ON CONFLICT (epoch) DO NOTHING
            """, cancellationToken);
        return await ReadAsync(db, cancellationToken);
    }

    /// <summary>Every layout ever recorded, retired ones too, oldest first (for <c>kbsync partitions show</c>).</summary>
    public async Task<IReadOnlyList<PartitionLayoutRecord>> HistoryAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.PartitionLayouts.AsNoTracking().OrderBy(l => l.Epoch).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// Makes a layout of <paramref name="count"/> partitions the current one. Refused while an older layout is
    /// still being drained (retire it first: one change at a time), and when the count is the current one's.
    /// The caller declares the new layout's queues before calling this, so no publish routed with it is returned.
    /// </summary>
    /// <exception cref="ArgumentException">The change is not possible now; the message says why.</exception>
    public async Task<PartitionLayout> ChangeAsync(int count, int firstCount, CancellationToken cancellationToken)
    {
        PartitionLayout.CheckCount(count, "--to");
        await ReadAsync(firstCount, cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, cancellationToken);
        await db.Database.ExecuteSqlRawAsync("LOCK TABLE partition_layouts IN EXCLUSIVE MODE", cancellationToken);
        var set = await ReadAsync(db, cancellationToken);
        if (set.Draining is { } older)
        {
            throw new ArgumentException($"A change is under way: {older} is still live beside {set.Current}. Run 'kbsync partitions retire' once it is drained, then change again.");
        }

        if (set.Current.Count == count)
        {
            throw new ArgumentException($"The current layout ({set.Current}) has {count} partitions already.");
        }

        var layout = new PartitionLayout(set.Current.Epoch + 1, count);
        db.PartitionLayouts.Add(new PartitionLayoutRecord { Epoch = layout.Epoch, Partitions = count, ChangedAt = DateTimeOffset.UtcNow });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return layout;
    }

    /// <summary>Records that a partition of an older layout was found empty; true if this call recorded it (another worker may have first).</summary>
    public async Task<bool> MarkDrainedAsync(PartitionLayout layout, int index, string workerId, CancellationToken cancellationToken)
    {
        workerId = Storable.Text(workerId, OperationColumns.WorkerId);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.Database.ExecuteSqlAsync(
            $"""
            INSERT INTO partition_drains (epoch, partition, drained_at, worker_id) VALUES ({layout.Epoch}, {index}, {DateTimeOffset.UtcNow}, {workerId})
            ON CONFLICT (epoch, partition) DO NOTHING
            """, cancellationToken);
        return rows == 1;
    }

    /// <summary>
    /// Marks the older layout retired, or (<paramref name="retired"/> false) live again, and wakes the workers
    /// (<c>NOTIFY</c> on their channel): they stop forwarding a retired layout's queues and let go of its partitions.
    /// </summary>
    public async Task SetRetiredAsync(PartitionLayout layout, bool retired, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        DateTimeOffset? at = retired ? DateTimeOffset.UtcNow : null;
        await db.PartitionLayouts.Where(l => l.Epoch == layout.Epoch).ExecuteUpdateAsync(l => l.SetProperty(r => r.RetiredAt, at), cancellationToken);
        await db.Database.ExecuteSqlRawAsync($"NOTIFY {WorkersChannel}", cancellationToken);
    }

    /// <summary>The channel the workers listen on for changes of ownership and layout.</summary>
    public const string WorkersChannel = "kbsync_partitions";

    private static async Task<LayoutSet> ReadAsync(KbSyncDbContext db, CancellationToken cancellationToken)
    {
        var live = await db.PartitionLayouts.AsNoTracking().Where(l => l.RetiredAt == null).OrderBy(l => l.Epoch)
            .Select(l => new PartitionLayout(l.Epoch, l.Partitions)).ToListAsync(cancellationToken);
        var oldest = live.Count > 0 ? live[0].Epoch : int.MaxValue;
        var drained = await db.PartitionDrains.AsNoTracking().Where(d => d.Epoch >= oldest)
            .Select(d => new { d.Epoch, d.Partition }).ToListAsync(cancellationToken);
        return new LayoutSet(live, drained.Select(d => (d.Epoch, d.Partition)).ToHashSet());
    }
}

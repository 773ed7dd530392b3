using System.Globalization;
using System.Text;
using KbSync.Contracts;
using KbSync.Persistence.Entities;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence.History;

/// <summary>
/// Filters for <see cref="OperationHistory.ListAsync"/>: newest first, at most <see cref="MaxLimit"/>
/// per page; <see cref="Cursor"/> (from <see cref="HistoryPage.NextCursor"/>) continues after a page.
/// <see cref="KbSet"/> keeps only those KBs' operations (the KBs a caller may read; empty: none).
/// </summary>
public sealed record HistoryQuery(
    string? KbId = null,
    string? RequestedBy = null,
    OperationStatus? Status = null,
    int Limit = HistoryQuery.DefaultLimit,
    OperationKind? Kind = null,
    DateTimeOffset? Since = null,
    DateTimeOffset? Until = null,
    string? Cursor = null)
{
    public const int DefaultLimit = 20;
    public const int MaxLimit = 1000;

    public IReadOnlyCollection<string>? KbSet { get; init; }
}

/// <summary>
/// A KB's live queue: how many of its operations wait, how many run, since when the oldest waits, its
/// partition, and, while that partition is paused, why.
/// </summary>
public sealed record KbQueue(string KbId, int Queued, int Running, DateTimeOffset OldestRequestedAt, int Partition, PartitionPause? Paused);

/// <summary>A paused partition: its worker retries a run of <see cref="KbId"/> and every request of the partition waits behind it.</summary>
public sealed record PartitionPause(int Partition, string KbId, string WorkerId, DateTimeOffset Since, string Reason, int Attempts)
{
    public static PartitionPause From(PartitionPauseRecord row) => new(row.Partition, row.KbId, row.WorkerId, row.Since, row.Reason, row.Attempts);
}

/// <summary>One page of history, and the cursor of the next one (null on the last page).</summary>
public sealed record HistoryPage(IReadOnlyList<OperationRecord> Operations, string? NextCursor);

/// <summary>Reads operations back: one by id, pages of the newest matching a filter, queue positions.</summary>
public sealed class OperationHistory(IDbContextFactory<KbSyncDbContext> contexts)
{
    public async Task<OperationRecord?> GetAsync(Guid operationId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Operations.AsNoTracking().SingleOrDefaultAsync(o => o.Id == operationId, cancellationToken);
    }

    public async Task<IReadOnlyList<OperationRecord>> ListAsync(HistoryQuery query, CancellationToken cancellationToken = default) =>
        (await PageAsync(query, cancellationToken)).Operations;

    /// <summary>Keyset paging on (requested_at, id), so a page costs the same however deep it is.</summary>
    public async Task<HistoryPage> PageAsync(HistoryQuery query, CancellationToken cancellationToken = default)
    {
        if (query.Limit is < 1 or > HistoryQuery.MaxLimit)
        {
            throw new ArgumentException($"limit must be between 1 and {HistoryQuery.MaxLimit}.");
        }

        if (query.Since is { } from && query.Until is { } to && from >= to)
        {
            throw new ArgumentException("since must be before until.");
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var operations = db.Operations.AsNoTracking();
        if (query.KbId is not null)
        {
            operations = operations.Where(o => o.KbId == query.KbId);
        }

        if (query.KbSet is not null)
        {
            var kbs = query.KbSet.ToArray();
            operations = operations.Where(o => kbs.Contains(o.KbId)); // kb_id = ANY(@kbs): one parameter
        }

        if (query.RequestedBy is not null)
        {
            operations = operations.Where(o => o.RequestedBy == query.RequestedBy);
        }

        if (query.Status is { } status)
        {
            operations = operations.Where(o => o.Status == status);
        }

        if (query.Kind is { } kind)
        {
            operations = operations.Where(o => o.Kind == kind);
        }

        if (query.Since is { } since)
        {
            operations = operations.Where(o => o.RequestedAt >= since);
        }

        if (query.Until is { } until)
        {
            operations = operations.Where(o => o.RequestedAt < until);
        }

        if (query.Cursor is not null)
        {
            var (at, id) = DecodeCursor(query.Cursor);
            operations = operations.Where(o => o.RequestedAt < at || (o.RequestedAt == at && o.Id.CompareTo(id) < 0));
        }

        var rows = await operations
            .OrderByDescending(o => o.RequestedAt).ThenByDescending(o => o.Id)
            .Take(query.Limit + 1)
            .ToListAsync(cancellationToken);
        var page = rows.Take(query.Limit).ToList();
        return new HistoryPage(page, rows.Count > query.Limit ? EncodeCursor(page[^1]) : null);
    }

    /// <summary>
    /// An open operation's place in its partition queue: 1 + the open (queued or running) operations
    /// ahead of it there, in the broker's order (<see cref="OperationRecord.QueueSeq"/>), of every
    /// registered KB that shares the partition (of <paramref name="partitions"/>), its own included: the
    /// partition's consumer takes them all before it. Running ones count (1 is being worked on, or
    /// next). Null once the operation is final. Two index range counts per KB of the partition, however
    /// long the queue: no broker call, no scan of the queue.
    /// <para>
    /// An operation the tap has not numbered (a worker took it first, or it was queued before the tap
    /// numbered requests) is placed among the unnumbered ones by request time; unnumbered open
    /// operations are counted as ahead of every numbered one.
    /// </para>
    /// </summary>
    public async Task<int?> QueuePositionAsync(OperationRecord operation, int partitions, CancellationToken cancellationToken = default)
    {
        if (operation.Status.IsFinal())
        {
            return null;
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var kbs = await PartitionKbsAsync(db, operation.KbId, partitions, cancellationToken);
        var open = db.Operations.Where(o => kbs.Contains(o.KbId) && (o.Status == OperationStatus.Queued || o.Status == OperationStatus.Running));
        var unnumbered = open.Where(o => o.QueueSeq == null);
        if (operation.QueueSeq is not { } seq)
        {
            return await unnumbered.CountAsync(o => o.RequestedAt < operation.RequestedAt || (o.RequestedAt == operation.RequestedAt && o.Id.CompareTo(operation.Id) <= 0), cancellationToken);
        }

        return await open.CountAsync(o => o.QueueSeq < seq, cancellationToken) + await unnumbered.CountAsync(cancellationToken) + 1;
    }

    /// <summary>
    /// The queue position of an operation just published: once the tap has numbered it (then every
    /// request ahead of it is recorded too, since the tap reads in the broker's order), its
    /// <see cref="QueuePositionAsync"/>. Null if it is final already, or the tap has not numbered it
    /// within <paramref name="timeout"/> (no tap reader runs, or it is catching up).
    /// </summary>
    public async Task<int?> PositionOnceQueuedAsync(Guid operationId, int partitions, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            if (await GetAsync(operationId, cancellationToken) is { } operation && (operation.QueueSeq is not null || operation.Status.IsFinal()))
            {
                return await QueuePositionAsync(operation, partitions, cancellationToken);
            }

            if (DateTimeOffset.UtcNow >= deadline)
            {
                return null;
            }

            await Task.Delay(ArrivalPollInterval, cancellationToken);
        }
    }

    private static readonly TimeSpan ArrivalPollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>The registered KBs that hash to <paramref name="kbId"/>'s partition, and that KB itself.</summary>
    private static async Task<string[]> PartitionKbsAsync(KbSyncDbContext db, string kbId, int partitions, CancellationToken cancellationToken)
    {
        var partition = Partitioning.PartitionOf(kbId, partitions);
        var registered = await db.KnowledgeBases.AsNoTracking().Select(kb => kb.Id).ToListAsync(cancellationToken);
        return [.. registered.Where(id => id != kbId && Partitioning.PartitionOf(id, partitions) == partition).Prepend(kbId)];
    }

    /// <summary>
    /// Every KB with something queued or running (uses the partial index on open operations), with its
    /// partition (of <paramref name="partitions"/>) and that partition's pause, if any.
    /// </summary>
    public async Task<IReadOnlyList<KbQueue>> OpenQueuesAsync(int partitions, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var open = await db.Database.SqlQuery<OpenQueueRow>(
            $"""
            SELECT kb_id,
                   (count(*) FILTER (WHERE status = 'queued'))::int AS queued,
                   (count(*) FILTER (WHERE status = 'running'))::int AS running,
                   min(requested_at) AS oldest_requested_at
            FROM operations
            WHERE status IN ('queued', 'running')
            GROUP BY kb_id
            ORDER BY kb_id
            """).ToListAsync(cancellationToken);
        var pauses = await PausesAsync(db, cancellationToken);
        return open.Select(q =>
        {
            var partition = Partitioning.PartitionOf(q.KbId, partitions);
            return new KbQueue(q.KbId, q.Queued, q.Running, q.OldestRequestedAt, partition,
                pauses.GetValueOrDefault(partition) ?? pauses.GetValueOrDefault(LaterLayoutKey(partitions, partition)));
        }).ToList();
    }

    /// <summary>The pause of a KB's partition (of <paramref name="partitions"/>), or null while it runs.</summary>
    public async Task<PartitionPause?> PauseOfAsync(string kbId, int partitions, CancellationToken cancellationToken = default)
    {
        if (!KbIds.IsValid(kbId))
        {
            return null;
        }

        var partition = Partitioning.PartitionOf(kbId, partitions);
        var laterKey = LaterLayoutKey(partitions, partition);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.PartitionPauses.AsNoTracking().Where(p => p.Partition == partition || p.Partition == laterKey).OrderBy(p => p.Partition)
            .Select(p => PartitionPause.From(p)).FirstOrDefaultAsync(cancellationToken);
    }

    /// <summary>
    /// Workers keep a pause under the partition's key (<see cref="PartitionLayout.Key"/>): the index for the first
    /// layout, <c>P * 10000 + index</c> for a later one. The caller knows only the count it routes with, so both are looked up.
    /// </summary>
    private static int LaterLayoutKey(int partitions, int partition) => partitions * PartitionLayout.KeyStride + partition;

    private static async Task<Dictionary<int, PartitionPause>> PausesAsync(KbSyncDbContext db, CancellationToken cancellationToken) =>
        (await db.PartitionPauses.AsNoTracking().ToListAsync(cancellationToken)).ToDictionary(p => p.Partition, PartitionPause.From);

    private sealed record OpenQueueRow(string KbId, int Queued, int Running, DateTimeOffset OldestRequestedAt);

    private static string EncodeCursor(OperationRecord last) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{last.RequestedAt.UtcTicks}:{last.Id:N}"));

    private static (DateTimeOffset At, Guid Id) DecodeCursor(string cursor)
    {
        try
        {
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(cursor)).Split(':');
            return (new DateTimeOffset(long.Parse(parts[0], CultureInfo.InvariantCulture), TimeSpan.Zero), Guid.ParseExact(parts[1], "N"));
        }
        catch (Exception error) when (error is FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException or OverflowException)
        {
            throw new ArgumentException("cursor is not one this API gave out.");
        }
    }
}

using KbSync.Contracts;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence.History;

/// <summary>A request as the queue tap saw it reach its partition queue, with the AMQP <c>message_id</c> of that publish (null if it had none).</summary>
public sealed record QueueArrival(KbRequest Request, string? MessageId);

/// <summary>A publisher's word that the broker refused its publish <paramref name="MessageId"/> of <paramref name="OperationId"/> (a negative confirm).</summary>
public sealed record QueueRefusal(Guid OperationId, string MessageId);

/// <summary>
/// Writes what the queue tap reads, in the broker's order: each request as <c>queued</c>, numbered
/// from <see cref="Sequence"/> in the order it reached its partition queue (so a queue position counts
/// what is really ahead, see <see cref="OperationHistory.QueuePositionAsync"/>); and each refusal,
/// which removes the row its refused publish made, so a request the broker never queued does not
/// show as queued.
/// </summary>
public sealed class QueueArrivals(IDbContextFactory<KbSyncDbContext> contexts)
{
    /// <summary>The PostgreSQL sequence that numbers arrivals (<c>operations.queue_seq</c>).</summary>
    public const string Sequence = "operation_queue_seq";

    /// <summary>
    /// Records one batch, in one transaction: the arrivals in the order given (the tap's delivery order),
    /// then the refusals (a refusal is published after the broker refused, so it always follows its copy).
    /// A row that exists already keeps its status (a worker was quicker, or the request was published
    /// again); it gets its number if it had none.
    /// </summary>
    public async Task RecordAsync(IReadOnlyList<QueueArrival> arrivals, IReadOnlyList<QueueRefusal> refusals, CancellationToken cancellationToken)
    {
        var valid = arrivals.Where(a => a.Request.OperationId != Guid.Empty && KbIds.IsValid(a.Request.KbId)).DistinctBy(a => a.Request.OperationId).ToList();
        if (valid.Count == 0 && refusals.Count == 0)
        {
            return;
        }

        var now = DateTimeOffset.UtcNow;
        var ids = valid.Select(a => a.Request.OperationId).ToArray();
        var kbIds = valid.Select(a => a.Request.KbId).ToArray();
        var kinds = valid.Select(a => a.Request.Kind.ToWireName()).ToArray();
        var requestedBy = valid.Select(a => Storable.Text(a.Request.RequestedBy, OperationColumns.RequestedBy)).ToArray();
        var requestedAt = valid.Select(a => (a.Request.RequestedAt == default ? now : a.Request.RequestedAt).ToUniversalTime()).ToArray();
        var messageIds = valid.Select(a => a.MessageId is { Length: <= OperationColumns.MessageId } id ? id : null).ToArray();
        var refusedIds = refusals.Select(r => r.OperationId).ToArray();
        var refusedMessages = refusals.Select(r => r.MessageId).ToArray();

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (valid.Count > 0)
        {
            // numbered in delivery order (the inner ORDER BY: PostgreSQL evaluates nextval after the sort), written
            // in id order (the outer one): a group's finish locks its rows in id order too
            // (OperationWrites.FinishAsync), and written in delivery order they closed deadlocks with it
            await db.Database.ExecuteSqlAsync(
                $"""
                INSERT INTO operations AS o (id, kb_id, kind, requested_by, status, requested_at, attempts, queue_seq, queued_message_id)
                SELECT q.id, q.kb_id, q.kind, q.requested_by, {OperationStatus.Queued.ToWireName()}, q.requested_at, 0, q.seq, q.message_id
                FROM (
                    SELECT r.*, nextval('operation_queue_seq') AS seq
                    FROM unnest({ids}, {kbIds}, {kinds}, {requestedBy}, {requestedAt}, {messageIds}) WITH ORDINALITY
                        AS r(id, kb_id, kind, requested_by, requested_at, message_id, ord)
                    ORDER BY r.ord) AS q
                ORDER BY q.id
                ON CONFLICT (id) DO UPDATE SET queue_seq = excluded.queue_seq, queued_message_id = excluded.queued_message_id
                WHERE o.queue_seq IS NULL
                """, cancellationToken);
        }

        if (refusals.Count > 0)
        {
            await db.Database.ExecuteSqlAsync(
                $"""
                DELETE FROM operations AS o
                USING unnest({refusedIds}, {refusedMessages}) AS r(id, message_id)
                WHERE o.id = r.id AND o.status = {OperationStatus.Queued.ToWireName()} AND o.queued_message_id = r.message_id
                """, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }
}

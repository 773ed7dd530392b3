using KbSync.Contracts;
using KbSync.Persistence.Entities;
using Microsoft.EntityFrameworkCore;

namespace KbSync.Persistence.History;

/// <summary>An operation a worker takes: the row <see cref="OperationWrites.BeginAsync"/> marks running.</summary>
public sealed record OperationStart(
    Guid Id, string KbId, OperationKind Kind, string? Title, string RequestedBy, string? Principal, DateTimeOffset RequestedAt, DateTimeOffset StartedAt);

/// <summary>How an operation ended, and the milliseconds of each step: what <see cref="OperationWrites.FinishAsync"/> writes.</summary>
public sealed record OperationEnd(
    Guid Id, OperationStatus Status, string? CommitSha, bool? Pushed, string? ResultJson, string? NotePath, string? Title, string? ErrorCode, string? ErrorMessage,
    double LockWaitMs, double PullMs, double ProcessMs, double CommitMs, double PushMs);

/// <summary>A failure written whatever state its row is in: what <see cref="OperationWrites.RecordFailedAsync"/> writes.</summary>
public sealed record OperationFailedAlone(
    Guid Id, string KbId, OperationKind Kind, string RequestedBy, string? Principal, DateTimeOffset RequestedAt, DateTimeOffset StartedAt,
    OperationStatus Status, string? ErrorCode, string? ErrorMessage);

/// <summary>
/// Every write to the <c>operations</c> table but the queue tap's (<see cref="QueueArrivals"/>, beside
/// it): an operation begun by a worker, its running step, its end, a failure written on its own, an
/// unreadable message. Each string is cut to its column (<see cref="OperationColumns"/>) and made
/// storable (<see cref="Storable"/>) here, so no caller can write a row PostgreSQL refuses.
/// <para>
/// One style, SQL through <c>ExecuteSqlAsync</c>/<c>SqlQuery</c> (EF Core's interpolated strings, so
/// every value is a parameter), as <see cref="QueueArrivals"/> writes: the workers and the queue tap
/// write the same rows at the same moments, and only <c>INSERT … ON CONFLICT … DO UPDATE … WHERE</c>
/// makes either order safe and keeps a row that finished (a tracked entity read then saved would race
/// the tap into a duplicate key, or overwrite a success). A group's rows go in one statement through
/// <c>unnest</c> of arrays, one round trip whatever the group's size.
/// </para>
/// </summary>
public sealed class OperationWrites(IDbContextFactory<KbSyncDbContext> contexts)
{
    private static readonly string Running = OperationStatus.Running.ToWireName();
    private static readonly string Failed = OperationStatus.Failed.ToWireName();
    private static readonly string Succeeded = OperationStatus.Succeeded.ToWireName();
    private static readonly string Duplicate = OperationStatus.Duplicate.ToWireName();
    private static readonly string TimedOut = OperationStatus.TimedOut.ToWireName();

    /// <summary>
    /// Marks the operations running, in one statement: each row is inserted, or updated unless it
    /// finished with success already (a redelivery) or is another KB's or another principal's. Returns
    /// the rows left as they were, read back: those the worker must not run. The queue tap may insert
    /// the same rows at this very moment; <c>ON CONFLICT</c> makes either order safe. The rows are
    /// written in id order, as the tap writes them (<see cref="QueueArrivals"/>) and a finish locks them:
    /// in the group's order this insert and the tap's closed deadlocks (40P01) on rows new to both.
    /// </summary>
    public async Task<IReadOnlyList<OperationRecord>> BeginAsync(IReadOnlyList<OperationStart> operations, string workerId, CancellationToken cancellationToken)
    {
        var starting = operations.DistinctBy(o => o.Id).ToList();
        var ids = starting.Select(o => o.Id).ToArray();
        var kbIds = starting.Select(o => Storable.Text(o.KbId, KbIds.MaxLength)).ToArray();
        var kinds = starting.Select(o => o.Kind.ToWireName()).ToArray();
        var titles = starting.Select(o => o.Title is null ? null : Storable.Text(o.Title, OperationColumns.Title)).ToArray();
        var requestedBy = starting.Select(o => Storable.Text(o.RequestedBy, OperationColumns.RequestedBy)).ToArray();
        var principals = starting.Select(o => o.Principal).ToArray();
        var requestedAt = starting.Select(o => o.RequestedAt.ToUniversalTime()).ToArray();
        var startedAt = starting.Select(o => o.StartedAt.ToUniversalTime()).ToArray();
        var queueWait = starting.Select(o => Math.Max(0, (o.StartedAt - o.RequestedAt).TotalMilliseconds)).ToArray();
        var worker = Storable.Text(workerId, OperationColumns.WorkerId);

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var started = await db.Database.SqlQuery<Guid>(
            $"""
            INSERT INTO operations AS o (id, kb_id, kind, title, requested_by, principal, requested_at, status, step, started_at, queue_wait_ms, worker_id, attempts)
            SELECT r.id, r.kb_id, r.kind, r.title, r.requested_by, r.principal, r.requested_at, {Running}, {OperationSteps.Lock}, r.started_at, r.queue_wait_ms, {worker}, 1
            FROM unnest({ids}, {kbIds}, {kinds}, {titles}, {requestedBy}, {principals}, {requestedAt}, {startedAt}, {queueWait})
                AS r(id, kb_id, kind, title, requested_by, principal, requested_at, started_at, queue_wait_ms)
            ORDER BY r.id
            ON CONFLICT (id) DO UPDATE SET
                kind = excluded.kind, title = coalesce(o.title, excluded.title),
                requested_by = excluded.requested_by, principal = excluded.principal, requested_at = excluded.requested_at, status = excluded.status,
                step = excluded.step, started_at = excluded.started_at, queue_wait_ms = excluded.queue_wait_ms,
                finished_at = NULL, error_code = NULL, error_message = NULL, worker_id = excluded.worker_id,
                attempts = o.attempts + 1
            WHERE o.status NOT IN ({Succeeded}, {Duplicate})
              AND o.kb_id = excluded.kb_id AND (o.principal IS NULL OR o.principal = excluded.principal)
            RETURNING o.id AS "Value"
            """).ToListAsync(cancellationToken);

        if (started.Count == starting.Count)
        {
            return [];
        }

        var left = ids.Except(started).ToList();
        return await db.Operations.AsNoTracking().Where(o => left.Contains(o.Id)).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// Shows the step the operations are in. Only a row still running is written, so a step written
    /// late never overwrites an outcome; a row another statement holds at this moment (its group
    /// finishing, the queue tap recording it, a redelivery beginning it) is passed over, not waited for
    /// (<c>FOR UPDATE SKIP LOCKED</c>), and keeps the step it showed until the next one.
    /// <para>
    /// Why: the step writer covers the rows of several groups in one statement and, waiting for rows in
    /// its own order, closed a cycle with a group's <see cref="FinishAsync"/> or the tap's insert that
    /// held some of the same rows: PostgreSQL ended one of them (40P01, deadlock detected), in every
    /// <c>./dev bench scale-out</c> run of 6 December 2026 at least once, mostly the finish; the group
    /// was then retried after a second's pause and its partition waited (docs/benchmarks.md, scale-out).
    /// A statement that waits for no row lock cannot be part of a deadlock.
    /// </para>
    /// </summary>
    public async Task StepAsync(IReadOnlyCollection<Guid> ids, string step, CancellationToken cancellationToken)
    {
        var idArray = ids.ToArray();
        var shown = Storable.Text(step, OperationColumns.Step);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync(
            $"""
            UPDATE operations AS o SET step = {shown}
            WHERE o.id IN (
                SELECT f.id FROM operations AS f
                WHERE f.id = ANY({idArray}) AND f.status = {Running}
                FOR UPDATE SKIP LOCKED)
            """, cancellationToken);
    }

    /// <summary>
    /// Records each operation's outcome and timings, in one statement. The rows are locked first in id
    /// order (<c>locked</c>), as the queue tap writes the rows it records (<see cref="QueueArrivals"/>): the
    /// update alone takes them in the order of its join, and with the tap taking them in delivery order
    /// the two closed deadlocks (40P01) in <c>./dev bench scale-out</c>, each costing the group a retry.
    /// </summary>
    public async Task FinishAsync(IReadOnlyList<OperationEnd> operations, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        if (operations.Count == 0)
        {
            return;
        }

        var ids = operations.Select(o => o.Id).ToArray();
        var statuses = operations.Select(o => o.Status.ToWireName()).ToArray();
        var commits = operations.Select(o => Storable.TextOrNull(o.CommitSha, OperationColumns.CommitSha)).ToArray();
        var pushed = operations.Select(o => o.Pushed).ToArray();
        var results = operations.Select(o => o.ResultJson).ToArray();
        var notePaths = operations.Select(o => Storable.TextOrNull(o.NotePath, OperationColumns.NotePath)).ToArray();
        var titles = operations.Select(o => Storable.TextOrNull(o.Title, OperationColumns.Title)).ToArray();
        var errorCodes = operations.Select(o => Storable.TextOrNull(o.ErrorCode, OperationColumns.ErrorCode)).ToArray();
        var errorMessages = operations.Select(o => Storable.TextOrNull(o.ErrorMessage, OperationColumns.ErrorMessage)).ToArray();
        var lockWait = operations.Select(o => o.LockWaitMs).ToArray();
        var pull = operations.Select(o => o.PullMs).ToArray();
        var process = operations.Select(o => o.ProcessMs).ToArray();
        var commit = operations.Select(o => o.CommitMs).ToArray();
        var push = operations.Select(o => o.PushMs).ToArray();
        var at = finishedAt.ToUniversalTime();

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync(
            $"""
            WITH locked AS MATERIALIZED (SELECT l.id FROM operations AS l WHERE l.id = ANY({ids}) ORDER BY l.id FOR UPDATE)
            UPDATE operations AS o SET
                status = r.status, step = NULL, finished_at = {at}, commit_sha = r.commit_sha, pushed = r.pushed,
                result = r.result::jsonb, note_path = r.note_path, title = coalesce(r.title, o.title),
                error_code = r.error_code, error_message = r.error_message, lock_wait_ms = r.lock_wait_ms,
                pull_ms = r.pull_ms, process_ms = r.process_ms, commit_ms = r.commit_ms, push_ms = r.push_ms
            FROM unnest({ids}, {statuses}, {commits}, {pushed}, {results}, {notePaths}, {titles}, {errorCodes}, {errorMessages},
                        {lockWait}, {pull}, {process}, {commit}, {push})
                AS r(id, status, commit_sha, pushed, result, note_path, title, error_code, error_message,
                     lock_wait_ms, pull_ms, process_ms, commit_ms, push_ms)
            WHERE o.id = r.id AND o.id IN (SELECT id FROM locked)
            """, cancellationToken);
    }

    /// <summary>
    /// Records one operation's failure whether or not its row was ever begun (only the storable basics:
    /// the request may be what made the usual writes fail). A row that finished with success stays as it is.
    /// </summary>
    public async Task RecordFailedAsync(OperationFailedAlone operation, DateTimeOffset finishedAt, string workerId, CancellationToken cancellationToken)
    {
        var kbId = Storable.Text(operation.KbId, KbIds.MaxLength);
        var kind = operation.Kind.ToWireName();
        var requestedBy = Storable.Text(operation.RequestedBy, OperationColumns.RequestedBy);
        var requestedAt = operation.RequestedAt.ToUniversalTime();
        var startedAt = operation.StartedAt.ToUniversalTime();
        var status = operation.Status.ToWireName();
        var errorCode = Storable.TextOrNull(operation.ErrorCode, OperationColumns.ErrorCode);
        var errorMessage = Storable.TextOrNull(operation.ErrorMessage, OperationColumns.ErrorMessage);
        var worker = Storable.Text(workerId, OperationColumns.WorkerId);
        var at = finishedAt.ToUniversalTime();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync(
            $"""
            INSERT INTO operations AS o (id, kb_id, kind, requested_by, principal, requested_at, status, started_at, finished_at, error_code, error_message, worker_id, attempts)
            VALUES ({operation.Id}, {kbId}, {kind}, {requestedBy}, {operation.Principal}, {requestedAt}, {status}, {startedAt}, {at},
                    {errorCode}, {errorMessage}, {worker}, 1)
            ON CONFLICT (id) DO UPDATE SET
                status = excluded.status, step = NULL, finished_at = excluded.finished_at, error_code = excluded.error_code,
                error_message = excluded.error_message, worker_id = excluded.worker_id
            WHERE o.status NOT IN ({Succeeded}, {Duplicate})
            """, cancellationToken);
    }

    /// <summary>
    /// Records a message no consumer could read as a failed note with <paramref name="errorCode"/>, under
    /// <paramref name="id"/>: a new row, or the row of an earlier delivery of the same id (its KB and
    /// requester kept where the message did not say them, one more attempt), unless that one finished
    /// otherwise than failed (an earlier, readable delivery succeeded). Returns false in that case:
    /// nothing was written.
    /// </summary>
    public async Task<bool> RecordUnreadableAsync(
        Guid id, string? kbId, string? requestedBy, string errorCode, string reason, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var kb = kbId is null ? null : Storable.Text(kbId, KbIds.MaxLength);
        var by = requestedBy is null ? null : Storable.Text(requestedBy, OperationColumns.RequestedBy);
        var code = Storable.Text(errorCode, OperationColumns.ErrorCode);
        var message = Storable.Text(reason, OperationColumns.ErrorMessage);
        var now = at.ToUniversalTime();
        var note = OperationKind.Note.ToWireName();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var written = await db.Database.SqlQuery<Guid>(
            $"""
            INSERT INTO operations AS o (id, kb_id, kind, requested_by, requested_at, status, started_at, finished_at, error_code, error_message, attempts)
            VALUES ({id}, coalesce({kb}, ''), {note}, coalesce({by}, ''), {now}, {Failed}, {now}, {now}, {code}, {message}, 1)
            ON CONFLICT (id) DO UPDATE SET
                kb_id = coalesce({kb}, o.kb_id), requested_by = coalesce({by}, o.requested_by), status = excluded.status, step = NULL,
                started_at = coalesce(o.started_at, excluded.started_at), finished_at = excluded.finished_at,
                error_code = excluded.error_code, error_message = excluded.error_message, attempts = o.attempts + 1
            WHERE o.status NOT IN ({Succeeded}, {Duplicate}, {TimedOut})
            RETURNING o.id AS "Value"
            """).ToListAsync(cancellationToken);
        return written.Count > 0;
    }
}

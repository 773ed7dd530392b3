using System.Text.Json;
using KbSync.Contracts;
using KbSync.KbWorker.Pipeline;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence;
using KbSync.Persistence.Entities;
using KbSync.Persistence.History;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// Writes each operation's history row (running when a worker takes it, then its outcome and
/// timings); <see cref="IResultPublisher"/> tells the requester. The row is keyed by the operation id,
/// so a redelivered request finds it: one already succeeded is not run again, only its result is
/// published again.
/// </summary>
public sealed class OperationRecorder(IDbContextFactory<KbSyncDbContext> contexts, WorkerMetrics metrics, IOptions<KbWorkerOptions> options)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _workerId = options.Value.WorkerId;
    private readonly long _maxResultBytes = options.Value.MaxResultBytes;

    /// <summary>
    /// Marks the operations running, in one statement: each row is inserted, or updated unless it
    /// finished with success already (a redelivery). Returns the outcomes of those that did, read
    /// back, which must not run again. The queue tap may insert the same rows at this very moment;
    /// <c>ON CONFLICT</c> makes either order safe.
    /// <para>
    /// An id is one KB's and one principal's: a row of another KB, or of another principal, is never
    /// taken over (nor answered with: that would tell a squatter the victim's result and leave the victim's
    /// request unwritten). Such a request gets an outcome that says so (<see cref="OperationOutcome.IdTaken"/>),
    /// and is recorded and answered under a new id.
    /// </para>
    /// </summary>
    public async Task<IReadOnlyDictionary<Guid, OperationOutcome>> BeginAsync(IReadOnlyList<PendingOperation> operations, CancellationToken cancellationToken)
    {
        var starting = operations.DistinctBy(o => o.Id).ToList();
        var requestedAt = starting.Select(o => (o.Request.RequestedAt == default ? o.StartedAt : o.Request.RequestedAt).ToUniversalTime()).ToArray();
        var ids = starting.Select(o => o.Id).ToArray();
        var kbIds = starting.Select(o => Storable.Text(o.Request.KbId, KbIds.MaxLength)).ToArray();
        var kinds = starting.Select(o => o.Request.Kind.ToWireName()).ToArray();
        var titles = starting.Select(o => o.Request.AgentTask is { } task ? Storable.Text(task.Instruction?.ReplaceLineEndings(" "), OperationColumns.Title) : null).ToArray();
        var requestedBy = starting.Select(o => Storable.Text(o.Request.RequestedBy, OperationColumns.RequestedBy)).ToArray();
        var startedAt = starting.Select(o => o.StartedAt.ToUniversalTime()).ToArray();
        var queueWait = starting.Select((o, i) => Math.Max(0, (o.StartedAt - requestedAt[i]).TotalMilliseconds)).ToArray();
        var principals = starting.Select(o => o.Principal?.Name).ToArray();
        var running = OperationStatus.Running.ToWireName();

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var started = await db.Database.SqlQuery<Guid>(
            $"""
            INSERT INTO operations AS o (id, kb_id, kind, title, requested_by, principal, requested_at, status, step, started_at, queue_wait_ms, worker_id, attempts)
            SELECT r.id, r.kb_id, r.kind, r.title, r.requested_by, r.principal, r.requested_at, {running}, {OperationSteps.Lock}, r.started_at, r.queue_wait_ms, {_workerId}, 1
            FROM unnest({ids}, {kbIds}, {kinds}, {titles}, {requestedBy}, {principals}, {requestedAt}, {startedAt}, {queueWait})
                AS r(id, kb_id, kind, title, requested_by, principal, requested_at, started_at, queue_wait_ms)
            ON CONFLICT (id) DO UPDATE SET
                kind = excluded.kind, title = coalesce(o.title, excluded.title),
                requested_by = excluded.requested_by, principal = excluded.principal, requested_at = excluded.requested_at, status = excluded.status,
                step = excluded.step, started_at = excluded.started_at, queue_wait_ms = excluded.queue_wait_ms,
                finished_at = NULL, error_code = NULL, error_message = NULL, worker_id = excluded.worker_id,
                attempts = o.attempts + 1
            WHERE o.status NOT IN ({OperationStatus.Succeeded.ToWireName()}, {OperationStatus.Duplicate.ToWireName()})
              AND o.kb_id = excluded.kb_id AND (o.principal IS NULL OR o.principal = excluded.principal)
            RETURNING o.id AS "Value"
            """).ToListAsync(cancellationToken);

        if (started.Count == starting.Count)
        {
            return new Dictionary<Guid, OperationOutcome>();
        }

        var finished = ids.Except(started).ToList();
        var byId = starting.ToDictionary(o => o.Id);
        var rows = await db.Operations.AsNoTracking().Where(o => finished.Contains(o.Id)).ToListAsync(cancellationToken);
        return rows.ToDictionary(row => row.Id, row =>
        {
            var operation = byId[row.Id];
            if (row.KbId != operation.Request.KbId || (row.Principal is not null && row.Principal != operation.Principal?.Name))
            {
                return OperationOutcome.IdTaken(row.Id);
            }

            return new OperationOutcome(row.Status, row.CommitSha, row.NotePath, row.Title, null, null)
            {
                Pushed = row.Pushed,
                Agent = row.ResultJson is null ? null : JsonSerializer.Deserialize<AgentResult>(row.ResultJson, Json),
            };
        });
    }

    /// <summary>Records each operation's outcome and timings, in one statement.</summary>
    public async Task FinishAsync(IReadOnlyList<PendingOperation> operations, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        var done = operations.Where(o => !o.FinishedEarlier && o.Outcome is not null && o.RecordedId == o.Id).DistinctBy(o => o.Id).ToList();
        if (done.Count == 0)
        {
            return;
        }

        foreach (var operation in done)
        {
            metrics.Record(operation, finishedAt);
        }

        var ids = done.Select(o => o.Id).ToArray();
        var statuses = done.Select(o => o.Outcome!.Status.ToWireName()).ToArray();
        var commits = done.Select(o => o.Outcome!.CommitSha).ToArray();
        var pushed = done.Select(o => o.Outcome!.Pushed).ToArray();
        var results = done.Select(o => o.Outcome!.Agent is { } agent ? JsonSerializer.Serialize(agent, Json) : null).ToArray();
        var notePaths = done.Select(o => o.Outcome!.NotePath).ToArray();
        var titles = done.Select(o => o.Outcome!.Title).ToArray();
        var errorCodes = done.Select(o => o.Outcome!.ErrorCode).ToArray();
        var errorMessages = done.Select(o => o.Outcome!.ErrorMessage).ToArray();
        var lockWait = done.Select(o => o.Timings.LockWaitMs).ToArray();
        var pull = done.Select(o => o.Timings.PullMs).ToArray();
        var process = done.Select(o => o.Timings.ProcessMs).ToArray();
        var commit = done.Select(o => o.Timings.CommitMs).ToArray();
        var push = done.Select(o => o.Timings.PushMs).ToArray();
        var at = finishedAt.ToUniversalTime();

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync(
            $"""
            UPDATE operations AS o SET
                status = r.status, step = NULL, finished_at = {at}, commit_sha = r.commit_sha, pushed = r.pushed,
                result = r.result::jsonb, note_path = r.note_path, title = coalesce(r.title, o.title),
                error_code = r.error_code, error_message = r.error_message, lock_wait_ms = r.lock_wait_ms,
                pull_ms = r.pull_ms, process_ms = r.process_ms, commit_ms = r.commit_ms, push_ms = r.push_ms
            FROM unnest({ids}, {statuses}, {commits}, {pushed}, {results}, {notePaths}, {titles}, {errorCodes}, {errorMessages},
                        {lockWait}, {pull}, {process}, {commit}, {push})
                AS r(id, status, commit_sha, pushed, result, note_path, title, error_code, error_message,
                     lock_wait_ms, pull_ms, process_ms, commit_ms, push_ms)
            WHERE o.id = r.id
            """, cancellationToken);
    }

    /// <summary>
    /// Records one operation's failure whether or not its row was ever begun (only the storable basics:
    /// the request may be what made the usual writes fail). A row that finished with success stays as it is.
    /// </summary>
    public async Task RecordFailedAsync(PendingOperation operation, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        metrics.Record(operation, finishedAt);
        var request = operation.Request;
        var outcome = operation.Outcome!;
        var kbId = Storable.Text(request.KbId, KbIds.MaxLength);
        var kind = request.Kind.ToWireName();
        var requestedBy = Storable.Text(request.RequestedBy, OperationColumns.RequestedBy);
        var requestedAt = (request.RequestedAt == default ? operation.StartedAt : request.RequestedAt).ToUniversalTime();
        var at = finishedAt.ToUniversalTime();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var principal = operation.Principal?.Name;
        await db.Database.ExecuteSqlAsync(
            $"""
            INSERT INTO operations AS o (id, kb_id, kind, requested_by, principal, requested_at, status, started_at, finished_at, error_code, error_message, worker_id, attempts)
            VALUES ({operation.RecordedId}, {kbId}, {kind}, {requestedBy}, {principal}, {requestedAt}, {outcome.Status.ToWireName()}, {operation.StartedAt.ToUniversalTime()}, {at},
                    {outcome.ErrorCode}, {outcome.ErrorMessage}, {_workerId}, 1)
            ON CONFLICT (id) DO UPDATE SET
                status = excluded.status, step = NULL, finished_at = excluded.finished_at, error_code = excluded.error_code,
                error_message = excluded.error_message, worker_id = excluded.worker_id
            WHERE o.status NOT IN ({OperationStatus.Succeeded.ToWireName()}, {OperationStatus.Duplicate.ToWireName()})
            """, cancellationToken);
    }

    /// <summary>
    /// The outcome as history keeps it and its event says it: every string storable and within its
    /// column, and an agent's result within <see cref="KbWorkerOptions.MaxResultBytes"/>. Made once, so
    /// the row and the event never differ.
    /// </summary>
    public OperationOutcome MakeStorable(OperationOutcome outcome) => outcome with
    {
        CommitSha = Storable.TextOrNull(outcome.CommitSha, OperationColumns.CommitSha),
        NotePath = Storable.TextOrNull(outcome.NotePath, OperationColumns.NotePath),
        Title = Storable.TextOrNull(outcome.Title, OperationColumns.Title),
        ErrorCode = Storable.TextOrNull(outcome.ErrorCode, OperationColumns.ErrorCode),
        ErrorMessage = Storable.TextOrNull(outcome.ErrorMessage, OperationColumns.ErrorMessage),
        Agent = outcome.Agent is { } agent ? Storable.Result(agent, _maxResultBytes, "KbWorker__MaxResultBytes") : null,
    };
}

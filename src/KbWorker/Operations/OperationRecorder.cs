using System.Text.Json;
using KbSync.Contracts;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence;
using KbSync.Persistence.Entities;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// Writes each operation's history row (running when a worker takes it, then its outcome and
/// timings) and tells the requester through <see cref="OperationCompleted"/> or
/// <see cref="OperationFailed"/>. The row is keyed by the operation id, so a redelivered request
/// finds it: one already succeeded is not run again, only its result is published again.
/// </summary>
public sealed class OperationRecorder(IDbContextFactory<KbSyncDbContext> contexts, WorkerMetrics metrics, IOptions<KbWorkerOptions> options)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _workerId = options.Value.WorkerId;

    /// <summary>
    /// Marks the operations running, in one statement: each row is inserted, or updated unless it
    /// finished with success already (a redelivery). Returns the outcomes of those that did, read
    /// back, which must not run again. The queue tap may insert the same rows at this very moment;
    /// <c>ON CONFLICT</c> makes either order safe.
    /// </summary>
    public async Task<IReadOnlyDictionary<Guid, OperationOutcome>> BeginAsync(IReadOnlyList<PendingOperation> operations, CancellationToken cancellationToken)
    {
        var starting = operations.DistinctBy(o => o.Id).ToList();
        var requestedAt = starting.Select(o => (o.Request.RequestedAt == default ? o.StartedAt : o.Request.RequestedAt).ToUniversalTime()).ToArray();
        var ids = starting.Select(o => o.Id).ToArray();
        var kbIds = starting.Select(o => Truncate(o.Request.KbId ?? "", KbIds.MaxLength)).ToArray();
        var kinds = starting.Select(o => o.Request.Kind.ToWireName()).ToArray();
        var titles = starting.Select(o => o.Request.AgentTask is { } task ? Truncate(task.Instruction.ReplaceLineEndings(" "), 500) : null).ToArray();
        var requestedBy = starting.Select(o => Truncate(o.Request.RequestedBy ?? "", 200)).ToArray();
        var startedAt = starting.Select(o => o.StartedAt.ToUniversalTime()).ToArray();
        var queueWait = starting.Select((o, i) => Math.Max(0, (o.StartedAt - requestedAt[i]).TotalMilliseconds)).ToArray();
        var running = OperationStatus.Running.ToWireName();

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var started = await db.Database.SqlQuery<Guid>(
            $"""
            INSERT INTO operations AS o (id, kb_id, kind, title, requested_by, requested_at, status, step, started_at, queue_wait_ms, worker_id, attempts)
            SELECT r.id, r.kb_id, r.kind, r.title, r.requested_by, r.requested_at, {running}, {OperationSteps.Lock}, r.started_at, r.queue_wait_ms, {_workerId}, 1
            FROM unnest({ids}, {kbIds}, {kinds}, {titles}, {requestedBy}, {requestedAt}, {startedAt}, {queueWait})
                AS r(id, kb_id, kind, title, requested_by, requested_at, started_at, queue_wait_ms)
            ON CONFLICT (id) DO UPDATE SET
                kb_id = excluded.kb_id, kind = excluded.kind, title = coalesce(o.title, excluded.title),
                requested_by = excluded.requested_by, requested_at = excluded.requested_at, status = excluded.status,
                step = excluded.step, started_at = excluded.started_at, queue_wait_ms = excluded.queue_wait_ms,
                finished_at = NULL, error_code = NULL, error_message = NULL, worker_id = excluded.worker_id,
                attempts = o.attempts + 1
            WHERE o.status NOT IN ({OperationStatus.Succeeded.ToWireName()}, {OperationStatus.Duplicate.ToWireName()})
            RETURNING o.id AS "Value"
            """).ToListAsync(cancellationToken);

        if (started.Count == starting.Count)
        {
            return new Dictionary<Guid, OperationOutcome>();
        }

        var finished = ids.Except(started).ToList();
        return await db.Operations.AsNoTracking().Where(o => finished.Contains(o.Id)).ToDictionaryAsync(
            row => row.Id,
            row => new OperationOutcome(row.Status, row.CommitSha, row.NotePath, row.Title, null, null)
            {
                Pushed = row.Pushed,
                Agent = row.ResultJson is null ? null : JsonSerializer.Deserialize<AgentResult>(row.ResultJson, Json),
            },
            cancellationToken);
    }

    /// <summary>
    /// Records requests as queued when they enter their partition queue (fed by the queue tap), so the
    /// queue position and queue wait are known for every producer. A row that exists already (the
    /// worker was quicker) is left alone.
    /// </summary>
    public async Task RecordQueuedAsync(IReadOnlyList<KbRequest> requests, CancellationToken cancellationToken)
    {
        var valid = requests.Where(r => r.OperationId != Guid.Empty && KbIds.IsValid(r.KbId)).DistinctBy(r => r.OperationId).ToList();
        if (valid.Count == 0)
        {
            return;
        }

        var now = DateTimeOffset.UtcNow;
        var ids = valid.Select(r => r.OperationId).ToArray();
        var kbIds = valid.Select(r => r.KbId).ToArray();
        var kinds = valid.Select(r => r.Kind.ToWireName()).ToArray();
        var requestedBy = valid.Select(r => Truncate(r.RequestedBy ?? "", 200)).ToArray();
        var requestedAt = valid.Select(r => (r.RequestedAt == default ? now : r.RequestedAt).ToUniversalTime()).ToArray();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync(
            $"""
            INSERT INTO operations (id, kb_id, kind, requested_by, status, requested_at, attempts)
            SELECT r.id, r.kb_id, r.kind, r.requested_by, {OperationStatus.Queued.ToWireName()}, r.requested_at, 0
            FROM unnest({ids}, {kbIds}, {kinds}, {requestedBy}, {requestedAt}) AS r(id, kb_id, kind, requested_by, requested_at)
            ON CONFLICT (id) DO NOTHING
            """, cancellationToken);
    }

    /// <summary>Records each operation's outcome and timings, in one statement.</summary>
    public async Task FinishAsync(IReadOnlyList<PendingOperation> operations, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        var done = operations.Where(o => !o.FinishedEarlier && o.Outcome is not null).DistinctBy(o => o.Id).ToList();
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
        var titles = done.Select(o => o.Outcome!.Title is { } title ? Truncate(title, 500) : null).ToArray();
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

    public static async Task PublishAsync(IPublishEndpoint publish, PendingOperation operation, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        var outcome = operation.Outcome ?? throw new InvalidOperationException($"Operation {operation.Id} has no outcome to publish.");
        var request = operation.Request;
        if (outcome.Status is OperationStatus.Succeeded or OperationStatus.Duplicate)
        {
            await publish.Publish(new OperationCompleted(operation.Id, request.KbId, request.Kind, outcome.Status, outcome.CommitSha, outcome.NotePath, finishedAt, outcome.Agent), cancellationToken);
        }
        else
        {
            await publish.Publish(new OperationFailed(operation.Id, request.KbId, request.Kind, outcome.Status, outcome.ErrorCode ?? ReasonCodes.InternalError, outcome.ErrorMessage ?? "", finishedAt), cancellationToken);
        }
    }

    private static string Truncate(string value, int length) => value.Length <= length ? value : value[..length];
}

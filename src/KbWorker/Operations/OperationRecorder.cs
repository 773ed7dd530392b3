using System.Text.Json;
using KbSync.Contracts;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence;
using KbSync.Persistence.Entities;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

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
    /// Marks the operations running (or finds them finished already). The queue tap may be inserting
    /// the same operations' queued rows at this very moment: when an insert here meets one, every
    /// missing row is inserted as the tap does (skipping those that exist), and a second pass updates them.
    /// </summary>
    public async Task BeginAsync(IReadOnlyList<PendingOperation> operations, CancellationToken cancellationToken)
    {
        try
        {
            await BeginOnceAsync(operations, cancellationToken);
        }
        catch (DbUpdateException error) when (error.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            await RecordQueuedAsync(operations.Select(o => o.Request).ToList(), cancellationToken);
            await BeginOnceAsync(operations, cancellationToken);
        }
    }

    private async Task BeginOnceAsync(IReadOnlyList<PendingOperation> operations, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var ids = operations.Select(o => o.Id).ToList();
        var rows = await db.Operations.Where(o => ids.Contains(o.Id)).ToDictionaryAsync(o => o.Id, cancellationToken);
        foreach (var operation in operations)
        {
            if (rows.TryGetValue(operation.Id, out var row) && row.Status is OperationStatus.Succeeded or OperationStatus.Duplicate)
            {
                operation.FinishedEarlier = true;
                operation.Outcome = new OperationOutcome(row.Status, row.CommitSha, row.NotePath, row.Title, null, null)
                {
                    Pushed = row.Pushed,
                    Agent = row.ResultJson is null ? null : JsonSerializer.Deserialize<AgentResult>(row.ResultJson, Json),
                };
                continue;
            }

            if (row is null)
            {
                row = new OperationRecord { Id = operation.Id };
                db.Operations.Add(row);
            }

            var request = operation.Request;
            row.KbId = Truncate(request.KbId ?? "", KbIds.MaxLength);
            row.Kind = request.Kind;
            row.Title ??= request.AgentTask is { } task ? Truncate(task.Instruction.ReplaceLineEndings(" "), 500) : null;
            row.RequestedBy = Truncate(request.RequestedBy ?? "", 200);
            row.RequestedAt = request.RequestedAt == default ? operation.StartedAt : request.RequestedAt;
            row.Status = OperationStatus.Running;
            row.Step = OperationSteps.Lock;
            row.StartedAt = operation.StartedAt;
            row.QueueWaitMs = Math.Max(0, (operation.StartedAt - row.RequestedAt).TotalMilliseconds);
            row.FinishedAt = null;
            row.ErrorCode = null;
            row.ErrorMessage = null;
            row.WorkerId = _workerId;
            row.Attempts++;
        }

        await db.SaveChangesAsync(cancellationToken);
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

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = DateTimeOffset.UtcNow;
        foreach (var request in valid)
        {
            var requestedAt = request.RequestedAt == default ? now : request.RequestedAt;
            var requestedBy = Truncate(request.RequestedBy ?? "", 200);
            await db.Database.ExecuteSqlAsync(
                $"""
                INSERT INTO operations (id, kb_id, kind, requested_by, status, requested_at, attempts)
                VALUES ({request.OperationId}, {request.KbId}, {request.Kind.ToWireName()}, {requestedBy}, {OperationStatus.Queued.ToWireName()}, {requestedAt}, 0)
                ON CONFLICT (id) DO NOTHING
                """, cancellationToken);
        }
    }

    public async Task FinishAsync(IReadOnlyList<PendingOperation> operations, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        var toRecord = operations.Where(o => !o.FinishedEarlier && o.Outcome is not null).ToDictionary(o => o.Id);
        if (toRecord.Count == 0)
        {
            return;
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var ids = toRecord.Keys.ToList();
        foreach (var row in await db.Operations.Where(o => ids.Contains(o.Id)).ToListAsync(cancellationToken))
        {
            var operation = toRecord[row.Id];
            var outcome = operation.Outcome!;
            row.Status = outcome.Status;
            row.Step = null;
            row.FinishedAt = finishedAt;
            row.CommitSha = outcome.CommitSha;
            row.Pushed = outcome.Pushed;
            row.ResultJson = outcome.Agent is null ? null : JsonSerializer.Serialize(outcome.Agent, Json);
            row.NotePath = outcome.NotePath;
            row.Title = outcome.Title is null ? row.Title : Truncate(outcome.Title, 500);
            row.ErrorCode = outcome.ErrorCode;
            row.ErrorMessage = outcome.ErrorMessage;
            row.LockWaitMs = operation.Timings.LockWaitMs;
            metrics.Record(operation, finishedAt);
            row.PullMs = operation.Timings.PullMs;
            row.ProcessMs = operation.Timings.ProcessMs;
            row.CommitMs = operation.Timings.CommitMs;
            row.PushMs = operation.Timings.PushMs;
        }

        await db.SaveChangesAsync(cancellationToken);
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

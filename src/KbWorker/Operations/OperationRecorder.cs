using System.Text.Json;
using KbSync.Contracts;
using KbSync.KbWorker.Pipeline;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence.History;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// Records each operation in history (running when a worker takes it, then its outcome and timings)
/// through <see cref="OperationWrites"/>, and its duration and waits in <see cref="WorkerMetrics"/>;
/// <see cref="IResultPublisher"/> tells the requester. The row is keyed by the operation id, so a
/// redelivered request finds it: one already succeeded is not run again, only its result is published again.
/// </summary>
public sealed class OperationRecorder(OperationWrites writes, WorkerMetrics metrics, IOptions<KbWorkerOptions> options)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _workerId = options.Value.WorkerId;
    private readonly long _maxResultBytes = options.Value.MaxResultBytes;

    /// <summary>
    /// Marks the operations running, in one statement (<see cref="OperationWrites.BeginAsync"/>).
    /// Returns the outcomes of those an earlier delivery finished with success, which must not run again.
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
        var rows = await writes.BeginAsync(starting.Select(o => new OperationStart(
            o.Id,
            o.Request.KbId,
            o.Request.Kind,
            o.Request.AgentTask is { } task ? task.Instruction?.ReplaceLineEndings(" ") ?? "" : null,
            o.Request.RequestedBy,
            o.Principal?.Name,
            RequestedAt(o),
            o.StartedAt)).ToList(), _workerId, cancellationToken);

        var byId = starting.ToDictionary(o => o.Id);
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

        await writes.FinishAsync(done.Select(o => new OperationEnd(
            o.Id,
            o.Outcome!.Status,
            o.Outcome.CommitSha,
            o.Outcome.Pushed,
            o.Outcome.Agent is { } agent ? JsonSerializer.Serialize(agent, Json) : null,
            o.Outcome.NotePath,
            o.Outcome.Title,
            o.Outcome.ErrorCode,
            o.Outcome.ErrorMessage,
            o.Timings.LockWaitMs,
            o.Timings.PullMs,
            o.Timings.ProcessMs,
            o.Timings.CommitMs,
            o.Timings.PushMs)).ToList(), finishedAt, cancellationToken);
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
        await writes.RecordFailedAsync(
            new OperationFailedAlone(operation.RecordedId, request.KbId, request.Kind, request.RequestedBy, operation.Principal?.Name,
                RequestedAt(operation), operation.StartedAt, outcome.Status, outcome.ErrorCode, outcome.ErrorMessage),
            finishedAt, _workerId, cancellationToken);
    }

    /// <summary>When the producer says it asked; when the worker took it, for a request that does not say.</summary>
    private static DateTimeOffset RequestedAt(PendingOperation operation) =>
        operation.Request.RequestedAt == default ? operation.StartedAt : operation.Request.RequestedAt;

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

using System.Diagnostics;
using KbSync.Contracts;
using KbSync.KbWorker.Identity;
using KbSync.KbWorker.Pipeline;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence.KnowledgeBases;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// Runs one KB's requests, in order, and records every outcome: validates and authorizes them, marks
/// them running in history, hands them to the <see cref="KbGroupRunner"/> (lock -> pull -> process ->
/// commit -> push, group by group), then records and publishes each result.
/// <para>
/// Consecutive notes form one group: each gets its own commit (with its <c>KbSync-Operation</c>
/// trailer), history row and result event, but the group shares one fetch and one push. Each agent
/// task is a group of its own, under its own deadline. A push refused because someone else wrote
/// first is replayed from a fresh fetch (<see cref="PushReplay"/>): never a merge. A request found on
/// the remote already (redelivery) is not committed again.
/// </para>
/// <para>
/// Read-only agent tasks (<see cref="RunReadOnlyAsync"/>) take no write lock: they read a snapshot of
/// the remote head in a separate reader clone and may run beside a write to the same KB.
/// </para>
/// </summary>
public sealed class KbOperationRunner(
    KbRegistry registry,
    KbGroupRunner groups,
    OperationRecorder recorder,
    IResultPublisher results,
    RequestAuthorization authorization,
    OperationTraces traces,
    IOptions<KbWorkerOptions> options)
{
    private readonly KbWorkerOptions _options = options.Value;

    public Task RunAsync(string kbId, IReadOnlyList<PendingOperation> operations, CancellationToken cancellationToken) =>
        RecordAsync(kbId, operations, reader: false, cancellationToken);

    /// <summary>A read-only agent task: no write lock, no commit, a snapshot of the remote head.</summary>
    public Task RunReadOnlyAsync(PendingOperation operation, CancellationToken cancellationToken) =>
        RecordAsync(operation.Request.KbId, [operation], reader: true, cancellationToken);

    /// <summary>
    /// Validates the operations, marks them running and applies them, then records and publishes every
    /// outcome. The KB is read from the registry, and the running rows are written, while the lock is
    /// taken and the clone fetched: the <see cref="KbRun"/> waits for the rows only before it applies
    /// the first request, as they say which requests an earlier delivery finished already. Those keep
    /// their earlier outcome.
    /// </summary>
    private async Task RecordAsync(string kbId, IReadOnlyList<PendingOperation> operations, bool reader, CancellationToken cancellationToken)
    {
        var registered = Task.Run(() => registry.FindAsync(kbId, cancellationToken), cancellationToken); // read while the history rows are written
        Activity.Current = null; // a run serves many requests, each in its own trace: every span here names its operation's (WorkerTracing)
        foreach (var operation in operations.Where(o => o.Outcome is null))
        {
            if (RequestValidation.Problem(operation.Request, _options.MaxNoteBytes) is { } problem)
            {
                operation.Fail(ReasonCodes.InvalidRequest, problem);
            }
        }

        await authorization.AuthorizeAsync(operations, cancellationToken);
        var begun = recorder.BeginAsync(operations, cancellationToken);
        var pending = operations.Where(o => o.Outcome is null).ToList();
        var run = new KbRun(kbId, reader, registered, begun);
        await Task.WhenAll(begun, pending.Count > 0 ? groups.RunAsync(run, pending, cancellationToken) : Task.CompletedTask);
        AdoptEarlierOutcomes(operations, await begun);
        foreach (var operation in operations.Where(o => o.Outcome is not null))
        {
            operation.Outcome = recorder.MakeStorable(operation.Outcome!);
        }

        using var record = WorkerTracing.Start(traces, "record", operations);
        record.Outcomes();
        var finishedAt = DateTimeOffset.UtcNow;
        await recorder.FinishAsync(operations, finishedAt, cancellationToken);
        foreach (var refused in operations.Where(o => o.RecordedId != o.Id))
        {
            await recorder.RecordFailedAsync(refused, finishedAt, cancellationToken); // under its new id: the row of its id is someone else's
        }

        // all at once: each waits for the broker's confirm, and one after the other that was about 1 ms per operation of the group
        await Task.WhenAll(operations.Select(operation => PublishAsync(record, operation, finishedAt, cancellationToken)));
    }

    /// <summary>
    /// What beginning the history said: a request an earlier delivery finished keeps that outcome; one
    /// whose id is another request's is refused, and recorded and answered under a new id.
    /// </summary>
    private static void AdoptEarlierOutcomes(IReadOnlyList<PendingOperation> operations, IReadOnlyDictionary<Guid, OperationOutcome> earlier)
    {
        foreach (var operation in operations.Where(o => earlier.ContainsKey(o.Id)))
        {
            if (earlier[operation.Id].IsIdTaken)
            {
                operation.Outcome ??= earlier[operation.Id]; // a refusal of its own (unauthorized, say) says more
                operation.RecordedId = Guid.NewGuid();
                continue;
            }

            operation.FinishedEarlier = true;
            operation.Outcome = earlier[operation.Id];
        }
    }

    /// <summary>Publishes an operation's result inside its record span, so MassTransit's publish span is in the operation's trace.</summary>
    private async Task PublishAsync(StepSpans record, PendingOperation operation, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        record.Enter(operation);
        await results.PublishAsync(operation, finishedAt, cancellationToken);
    }

    /// <summary>Records and publishes an operation's failure on its own, whatever state its history row is in (the backstop's last word).</summary>
    public async Task RecordFailureAsync(PendingOperation operation, CancellationToken cancellationToken)
    {
        operation.Outcome = recorder.MakeStorable(operation.Outcome!);
        var finishedAt = DateTimeOffset.UtcNow;
        await recorder.RecordFailedAsync(operation, finishedAt, cancellationToken);
        await results.PublishAsync(operation, finishedAt, cancellationToken);
    }
}

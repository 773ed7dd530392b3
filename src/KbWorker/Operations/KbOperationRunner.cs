using System.Diagnostics;
using KbSync.Contracts;
using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Agents.Protection;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Identity;
using KbSync.KbWorker.Locking;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence.Entities;
using KbSync.Persistence.KnowledgeBases;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using EarlierOutcomes = System.Collections.Generic.IReadOnlyDictionary<System.Guid, KbSync.KbWorker.Operations.OperationOutcome>;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// Runs one KB's requests, in order: lock -> pull -> process -> commit -> push.
/// <para>
/// Consecutive notes form one group: each gets its own commit (with its <c>KbSync-Operation</c>
/// trailer), history row and result event, but the group shares one fetch and one push. Each agent
/// task is a group of its own, under its own deadline. A push refused because someone else wrote
/// first is replayed from a fresh fetch (bounded by <see cref="KbWorkerOptions.MaxPushAttempts"/>):
/// never a merge. A request found on the remote already (redelivery) is not committed again.
/// </para>
/// <para>
/// Read-only agent tasks (<see cref="RunReadOnlyAsync"/>) take no write lock: they read a snapshot of
/// the remote head in a separate reader clone and may run beside a write to the same KB.
/// </para>
/// </summary>
public sealed class KbOperationRunner(
    KbLocks locks,
    KbClones clones,
    KbRegistry registry,
    NoteWriter notes,
    AgentTaskRunner agents,
    OperationRecorder recorder,
    RequestAuthorization authorization,
    StepReporter steps,
    OperationTraces traces,
    WorkerMetrics metrics,
    IOptions<KbWorkerOptions> options,
    ILogger<KbOperationRunner> logger)
{
    private readonly KbWorkerOptions _options = options.Value;

    public Task RunAsync(string kbId, IReadOnlyList<PendingOperation> operations, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var kb = Task.Run(() => registry.FindAsync(kbId, cancellationToken), cancellationToken); // read while the history rows are written
        return RecordAsync(operations, publish, (pending, begun) => ApplyAsync(kbId, kb, pending, begun, reader: false, cancellationToken), cancellationToken);
    }

    /// <summary>A read-only agent task: no write lock, no commit, a snapshot of the remote head.</summary>
    public Task RunReadOnlyAsync(PendingOperation operation, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var kb = Task.Run(() => registry.FindAsync(operation.Request.KbId, cancellationToken), cancellationToken);
        return RecordAsync([operation], publish, (pending, begun) => ApplyAsync(operation.Request.KbId, kb, pending, begun, reader: true, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Validates the operations, marks them running and applies them, then records and publishes every
    /// outcome. The running rows are written while the lock is taken and the clone fetched: <paramref name="apply"/>
    /// gets that write as a task and waits for it only before it applies the first request, as it says
    /// which requests an earlier delivery finished already. Those keep their earlier outcome.
    /// </summary>
    private async Task RecordAsync(IReadOnlyList<PendingOperation> operations, IPublishEndpoint publish, Func<IReadOnlyList<PendingOperation>, Task<EarlierOutcomes>, Task> apply, CancellationToken cancellationToken)
    {
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
        await Task.WhenAll(begun, pending.Count > 0 ? apply(pending, begun) : Task.CompletedTask);
        var earlier = await begun;
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
        await Task.WhenAll(operations.Select(operation => PublishAsync(record, publish, operation, finishedAt, cancellationToken)));
    }

    /// <summary>Publishes an operation's result inside its record span, so MassTransit's publish span is in the operation's trace.</summary>
    private static async Task PublishAsync(StepSpans record, IPublishEndpoint publish, PendingOperation operation, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        record.Enter(operation);
        await OperationRecorder.PublishAsync(publish, operation, finishedAt, cancellationToken);
    }

    /// <summary>Records and publishes an operation's failure on its own, whatever state its history row is in (the backstop's last word).</summary>
    public async Task RecordFailureAsync(PendingOperation operation, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        operation.Outcome = recorder.MakeStorable(operation.Outcome!);
        var finishedAt = DateTimeOffset.UtcNow;
        await recorder.RecordFailedAsync(operation, finishedAt, cancellationToken);
        await OperationRecorder.PublishAsync(publish, operation, finishedAt, cancellationToken);
    }

    private async Task ApplyAsync(string kbId, Task<KnowledgeBaseRecord?> registered, IReadOnlyList<PendingOperation> pending, Task<EarlierOutcomes> begun, bool reader, CancellationToken cancellationToken)
    {
        var groups = Groups(pending).ToList();
        var deadline = NewDeadline(groups[0], cancellationToken);
        try
        {
            var kb = await registered.WaitAsync(deadline.Token);
            if (kb is null)
            {
                FailAll(pending, ReasonCodes.UnknownKb, $"No KB '{kbId}' is registered: add it with 'kbsync kb add {kbId} --remote <url>'.");
                return;
            }

            KbLockHandle kbLock;
            using (var locking = WorkerTracing.Start(traces, "lock", pending).Tag("kbsync.lock.shared", reader))
            {
                try
                {
                    kbLock = await locks.AcquireAsync(kbId, _options.LockTimeout, deadline.Token, reader);
                }
                catch (Exception error) when (Failed(pending, error, deadline, cancellationToken))
                {
                    locking.Outcomes();
                    return;
                }
            }

            using (kbLock)
            {
                foreach (var operation in pending)
                {
                    operation.Timings.LockWaitMs = kbLock.Waited.TotalMilliseconds;
                }

                foreach (var group in groups)
                {
                    if (group != groups[0])
                    {
                        deadline.Dispose();
                        deadline = NewDeadline(group, cancellationToken);
                    }

                    try
                    {
                        await CommitAndPushAsync(kb, group, begun, reader, deadline.Token);
                    }
                    catch (Exception error) when (Failed(group, error, deadline, cancellationToken))
                    {
                    }
                }
            }
        }
        finally
        {
            deadline.Dispose();
        }
    }

    /// <summary>Consecutive notes share a group; each agent task is a group of its own.</summary>
    private static IEnumerable<List<PendingOperation>> Groups(IReadOnlyList<PendingOperation> pending)
    {
        var notes = new List<PendingOperation>();
        foreach (var operation in pending)
        {
            if (operation.Request.Kind == OperationKind.Note)
            {
                notes.Add(operation);
                continue;
            }

            if (notes.Count > 0)
            {
                yield return notes;
                notes = [];
            }

            yield return [operation];
        }

        if (notes.Count > 0)
        {
            yield return notes;
        }
    }

    private CancellationTokenSource NewDeadline(List<PendingOperation> group, CancellationToken cancellationToken)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout(group));
        return deadline;
    }

    private TimeSpan Timeout(List<PendingOperation> group) => group[0].Request.Kind == OperationKind.Agent ? _options.AgentTimeout : _options.NoteTimeout;

    /// <summary>Records a failure that ends a group (deadline, lock, git); false for anything else, which goes up to be retried.</summary>
    private bool Failed(IReadOnlyList<PendingOperation> group, Exception error, CancellationTokenSource deadline, CancellationToken cancellationToken)
    {
        switch (error)
        {
            case OperationCanceledException when deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested:
                var setting = group[0].Request.Kind == OperationKind.Agent ? "KbWorker__AgentTimeout" : "KbWorker__NoteTimeout";
                FailAll(group, ReasonCodes.TimedOut, $"The operation passed its deadline of {Timeout(group.ToList()).TotalSeconds:0.#} s ({setting}).", OperationStatus.TimedOut);
                return true;
            case KbLockTimeoutException:
                FailAll(group, ReasonCodes.LockTimeout, error.Message);
                return true;
            case OperationFailure failure:
                logger.LogWarning("KB {KbId}: {Reason}: {Message}", group[0].Request.KbId, failure.ReasonCode, failure.Message);
                FailAll(group, failure.ReasonCode, failure.Message);
                return true;
            default:
                return false;
        }
    }

    private async Task CommitAndPushAsync(KnowledgeBaseRecord kb, IReadOnlyList<PendingOperation> group, Task<EarlierOutcomes> begun, bool reader, CancellationToken cancellationToken)
    {
        try
        {
            await CommitAndPushOnceAsync(kb, group, begun, reader, cancellationToken);
        }
        catch (GitFailure error) when (error.ReasonCode == ReasonCodes.CorruptClone)
        {
            logger.LogWarning("{Message}", error.Message);
            clones.Discard(kb.Id, reader);
            await CommitAndPushOnceAsync(kb, group, begun, reader, cancellationToken);
        }
    }

    private async Task CommitAndPushOnceAsync(KnowledgeBaseRecord kb, IReadOnlyList<PendingOperation> group, Task<EarlierOutcomes> begun, bool reader, CancellationToken cancellationToken)
    {
        using var clone = clones.Open(kb, reader);
        for (var attempt = 1; ; attempt++)
        {
            steps.Report(group, OperationSteps.Pull);
            var step = Stopwatch.StartNew();
            var fetch = attempt > 1 || group.Any(o => o.Request.AgentTask is not null);
            using (WorkerTracing.Start(traces, "pull", group).Tag("kbsync.attempt", attempt).Tag("kbsync.pull.fetch", fetch))
            {
                await clone.SyncAsync(fetch, cancellationToken);
            }

            Charge(group, step, (t, ms) => t.PullMs += ms);

            var finishedEarlier = await begun.WaitAsync(cancellationToken);
            steps.Report(group, OperationSteps.Process);
            var outcomes = new Dictionary<PendingOperation, OperationOutcome>();
            var committed = new List<PendingOperation>();
            foreach (var operation in group.Where(o => !finishedEarlier.ContainsKey(o.Id)))
            {
                var tipBefore = clone.Tip;
                using (var process = WorkerTracing.Start(traces, "process", [operation]))
                {
                    process.Enter(operation); // the commit's span (LibGit2KbClone.Commit) nests here
                    outcomes[operation] = clone.FindOperation(operation.Id) is { } earlier
                        ? OperationOutcome.Succeeded(earlier.CommitSha, earlier.NotePath, null)
                        : await ApplyAsync(clone, operation, kb, cancellationToken);
                    process.Tag("kbsync.status", outcomes[operation].Status.ToWireName());
                }

                if (clone.Tip != tipBefore)
                {
                    committed.Add(operation);
                }
            }

            if (committed.Count == 0)
            {
                Settle(outcomes, clone.HasRemote);
                return;
            }

            steps.Report(group, OperationSteps.Push);
            step.Restart();
            PushOutcome pushed;
            using (var pushing = WorkerTracing.Start(traces, "push", group).Tag("kbsync.attempt", attempt).Tag("kbsync.push.commits", committed.Count))
            {
                pushed = await clone.PushAsync(cancellationToken);
                pushing.Tag("kbsync.push.outcome", PushNames.Of(pushed));
            }

            metrics.Pushed(kb.Id, pushed, replaying: pushed is PushOutcome.NonFastForward or PushOutcome.Locked && attempt < _options.MaxPushAttempts);
            Charge(group, step, (t, ms) => t.PushMs += ms);
            if (pushed is not (PushOutcome.NonFastForward or PushOutcome.Locked))
            {
                CrashPoint.Reach(CrashPoint.Pushed);
                Settle(outcomes, pushed == PushOutcome.Pushed);
                return;
            }

            if (attempt >= _options.MaxPushAttempts)
            {
                // the last refusal says what blocked: a branch that kept moving, or one another writer kept locked
                if (pushed == PushOutcome.Locked)
                {
                    FailAll(group, ReasonCodes.RemoteLocked, $"KB '{kb.Id}': {clone.LockedBy ?? $"the remote branch {kb.Branch} is locked by another writer"}; gave up after {attempt} attempts (KbWorker__MaxPushAttempts).");
                }
                else
                {
                    FailAll(group, ReasonCodes.NonFastForward, $"KB '{kb.Id}': the remote branch {kb.Branch} kept moving; gave up after {attempt} attempts (KbWorker__MaxPushAttempts).");
                }

                return;
            }

            if (pushed == PushOutcome.Locked)
            {
                logger.LogInformation("KB {KbId}: push of {Count} commit(s) found {Lock}; replaying (attempt {Attempt})", kb.Id, committed.Count, clone.LockedBy, attempt + 1);
            }
            else
            {
                logger.LogInformation("KB {KbId}: push of {Count} commit(s) rejected as non-fast-forward; replaying on the new head (attempt {Attempt})", kb.Id, committed.Count, attempt + 1);
            }

            await Task.Delay(ReplayPause(attempt), cancellationToken);
        }
    }

    /// <summary>
    /// A short pause before a replay, longer each time, with jitter: whoever moved the branch may
    /// still be writing (a ref lock held, a run of pushes), and replaying at once would spend the
    /// attempts in a few milliseconds. 5 attempts span about a quarter of a second.
    /// </summary>
    private static TimeSpan ReplayPause(int attempt) => TimeSpan.FromMilliseconds(Math.Min(attempt * 25, 500) + Random.Shared.Next(25));

    /// <summary>
    /// One request on the clone's tip. A request that fails for a reason of its own (a path conflict, an
    /// agent's failure) fails alone, and the rest of its group goes on; a damaged clone fails the group,
    /// which is then run again on a fresh clone.
    /// </summary>
    private async Task<OperationOutcome> ApplyAsync(IKbClone clone, PendingOperation operation, KnowledgeBaseRecord kb, CancellationToken cancellationToken)
    {
        FaultPoint.Reach(operation.Request.RequestedBy);
        try
        {
            return operation.Request.Kind == OperationKind.Note
                ? notes.Apply(clone, operation)
                : await agents.ApplyAsync(clone, operation, ProtectedPaths.Of(kb.ProtectedPaths), cancellationToken);
        }
        catch (OperationFailure failure) when (failure.ReasonCode != ReasonCodes.CorruptClone)
        {
            logger.LogWarning("KB {KbId}: {Kind} {OperationId} failed: {Reason}: {Message}", operation.Request.KbId, operation.Request.Kind.ToWireName(), operation.Id, failure.ReasonCode, failure.Message);
            return new OperationOutcome(OperationStatus.Failed, null, null, null, failure.ReasonCode, failure.Message);
        }
    }

    /// <param name="onRemote">False for a KB without a remote: its commits stay in the worker's clone, and history says so.</param>
    private static void Settle(Dictionary<PendingOperation, OperationOutcome> outcomes, bool onRemote)
    {
        foreach (var (operation, outcome) in outcomes)
        {
            operation.Outcome = outcome.CommitSha is null ? outcome : outcome with { Pushed = onRemote };
        }
    }

    private static void Charge(IReadOnlyList<PendingOperation> operations, Stopwatch step, Action<StepTimings, double> add)
    {
        foreach (var operation in operations)
        {
            add(operation.Timings, step.Elapsed.TotalMilliseconds);
        }
    }

    private static void FailAll(IEnumerable<PendingOperation> operations, string reasonCode, string message, OperationStatus status = OperationStatus.Failed)
    {
        foreach (var operation in operations.Where(o => o.Outcome is null))
        {
            operation.Fail(reasonCode, message, status);
        }
    }
}

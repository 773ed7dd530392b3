using System.Diagnostics;
using KbSync.KbWorker.Notes;
using KbSync.Contracts;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Locking;
using KbSync.Persistence.Entities;
using KbSync.Persistence.KnowledgeBases;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// Runs one KB's requests, in order, as one group: lock -> pull -> process -> commit -> push.
/// Each request gets its own commit (with its <c>KbSync-Operation</c> trailer), history row and
/// result event; the group shares one lock, one fetch and one push. A push refused because someone
/// else wrote first is replayed from a fresh fetch (bounded by <see cref="KbWorkerOptions.MaxPushAttempts"/>):
/// never a merge. A request found on the remote already (redelivery) is not committed again.
/// </summary>
public sealed class KbOperationRunner(
    KbLocks locks,
    KbClones clones,
    KbRegistry registry,
    NoteWriter notes,
    OperationRecorder recorder,
    IOptions<KbWorkerOptions> options,
    ILogger<KbOperationRunner> logger)
{
    private readonly KbWorkerOptions _options = options.Value;

    public async Task RunAsync(string kbId, IReadOnlyList<PendingOperation> operations, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await recorder.BeginAsync(operations, cancellationToken);
        foreach (var operation in operations.Where(o => o.Outcome is null))
        {
            if (RequestValidation.Problem(operation.Request, _options.MaxNoteBytes) is { } problem)
            {
                operation.Fail(ReasonCodes.InvalidRequest, problem);
            }
        }

        var pending = operations.Where(o => o.Outcome is null).ToList();
        if (pending.Count > 0)
        {
            await ApplyAsync(kbId, pending, cancellationToken);
        }

        var finishedAt = DateTimeOffset.UtcNow;
        await recorder.FinishAsync(operations, finishedAt, cancellationToken);
        foreach (var operation in operations)
        {
            await OperationRecorder.PublishAsync(publish, operation, finishedAt, cancellationToken);
        }
    }

    private async Task ApplyAsync(string kbId, IReadOnlyList<PendingOperation> pending, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.NoteTimeout);
        try
        {
            var kb = await registry.FindAsync(kbId, deadline.Token);
            if (kb is null)
            {
                FailAll(pending, ReasonCodes.UnknownKb, $"No KB '{kbId}' is registered: add it with 'kbsync kb add {kbId} --remote <url>'.");
                return;
            }

            using var kbLock = await locks.AcquireAsync(kbId, _options.LockTimeout, deadline.Token);
            foreach (var operation in pending)
            {
                operation.Timings.LockWaitMs = kbLock.Waited.TotalMilliseconds;
            }

            try
            {
                await CommitAndPushAsync(kb, pending, deadline.Token);
            }
            catch (GitFailure error) when (error.ReasonCode == ReasonCodes.CorruptClone)
            {
                logger.LogWarning("{Message}", error.Message);
                clones.Discard(kb.Id);
                await CommitAndPushAsync(kb, pending, deadline.Token);
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            FailAll(pending, ReasonCodes.TimedOut, $"The operation passed its deadline of {_options.NoteTimeout.TotalSeconds:0.#} s (KbWorker__NoteTimeout).", OperationStatus.TimedOut);
        }
        catch (KbLockTimeoutException error)
        {
            FailAll(pending, ReasonCodes.LockTimeout, error.Message);
        }
        catch (GitFailure error)
        {
            logger.LogWarning("KB {KbId}: {Reason}: {Message}", kbId, error.ReasonCode, error.Message);
            FailAll(pending, error.ReasonCode, error.Message);
        }
    }

    private async Task CommitAndPushAsync(KnowledgeBaseRecord kb, IReadOnlyList<PendingOperation> pending, CancellationToken cancellationToken)
    {
        using var clone = clones.Open(kb);
        for (var attempt = 1; ; attempt++)
        {
            var step = Stopwatch.StartNew();
            await clone.SyncAsync(cancellationToken);
            Charge(pending, step, (t, ms) => t.PullMs += ms);

            var outcomes = new Dictionary<PendingOperation, OperationOutcome>();
            var committed = new List<PendingOperation>();
            foreach (var operation in pending)
            {
                var tipBefore = clone.Tip;
                outcomes[operation] = clone.FindOperation(operation.Id) is { } earlier
                    ? OperationOutcome.Succeeded(earlier.CommitSha, earlier.NotePath, null)
                    : notes.Apply(clone, operation);
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

            CrashPoint.Reach(CrashPoint.Committed);
            step.Restart();
            var pushed = await clone.PushAsync(cancellationToken);
            Charge(pending, step, (t, ms) => t.PushMs += ms);
            if (pushed != PushOutcome.NonFastForward)
            {
                CrashPoint.Reach(CrashPoint.Pushed);
                Settle(outcomes, pushed == PushOutcome.Pushed);
                return;
            }

            if (attempt >= _options.MaxPushAttempts)
            {
                FailAll(pending, ReasonCodes.NonFastForward, $"KB '{kb.Id}': the remote branch {kb.Branch} kept moving; gave up after {attempt} attempts (KbWorker__MaxPushAttempts).");
                return;
            }

            logger.LogInformation("KB {KbId}: push of {Count} commit(s) rejected as non-fast-forward; replaying on the new head (attempt {Attempt})", kb.Id, committed.Count, attempt + 1);
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

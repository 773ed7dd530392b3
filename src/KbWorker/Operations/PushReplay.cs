using System.Diagnostics;
using KbSync.Contracts;
using KbSync.KbWorker.Agents;
using KbSync.KbWorker.Agents.Protection;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Git;
using KbSync.KbWorker.Notes;
using KbSync.KbWorker.Pipeline;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence.Entities;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// One group on the KB's clone: pull -> process each request -> push, and again from a fresh fetch
/// when the push is refused because someone else wrote first (or held the branch's lock), up to
/// <see cref="KbWorkerOptions.MaxPushAttempts"/>; never a merge. A group of notes starts from the
/// remote head as the clone last saw it, without fetching (the push is a compare-and-swap); an agent
/// task always fetches first. A request whose commit is on the remote already (a redelivery) is not
/// applied again; a request that fails for a reason of its own fails alone. A damaged clone
/// (<see cref="ReasonCodes.CorruptClone"/>) is discarded, and the group run once more on a fresh one.
/// </summary>
public sealed class PushReplay(
    IKbClones clones,
    NoteWriter notes,
    AgentTaskRunner agents,
    StepReporter steps,
    OperationTraces traces,
    WorkerMetrics metrics,
    IOptions<KbWorkerOptions> options,
    ILogger<PushReplay> logger)
{
    private readonly KbWorkerOptions _options = options.Value;

    /// <param name="cancellationToken">The group's deadline.</param>
    public async Task RunAsync(KbRun run, KnowledgeBaseRecord kb, IReadOnlyList<PendingOperation> group, CancellationToken cancellationToken)
    {
        var remote = new KbRemote(kb.Id, kb.RemoteUrl, kb.Branch, kb.TokenEnv);
        var protectedPaths = kb.ProtectedPaths; // read as each agent task is applied (ProtectedPaths.Of): a list it refuses fails that task alone
        try
        {
            await RunOnceAsync(run, remote, protectedPaths, group, cancellationToken);
        }
        catch (GitFailure error) when (error.ReasonCode == ReasonCodes.CorruptClone)
        {
            logger.LogWarning("{Message}", error.Message);
            clones.Discard(kb.Id, run.Reader);
            await RunOnceAsync(run, remote, protectedPaths, group, cancellationToken);
        }
    }

    private async Task RunOnceAsync(KbRun run, KbRemote kb, IReadOnlyList<string>? protectedPaths, IReadOnlyList<PendingOperation> group, CancellationToken cancellationToken)
    {
        using var clone = clones.Open(kb, run.Reader);
        for (var attempt = 1; ; attempt++)
        {
            await PullAsync(clone, group, attempt, cancellationToken);
            var finishedEarlier = await run.FinishedEarlierAsync(cancellationToken);
            var (outcomes, committed) = await ProcessAsync(clone, group, finishedEarlier, protectedPaths, cancellationToken);
            if (committed == 0)
            {
                Settle(outcomes, clone.HasRemote);
                return;
            }

            var pushed = await PushAsync(clone, kb, group, attempt, committed, cancellationToken);
            if (pushed is not (PushOutcome.NonFastForward or PushOutcome.Locked))
            {
                CrashPoint.Reach(CrashPoint.Pushed);
                Settle(outcomes, pushed == PushOutcome.Pushed);
                return;
            }

            if (attempt >= _options.MaxPushAttempts)
            {
                GiveUp(clone, kb, group, pushed, attempt);
                return;
            }

            if (pushed == PushOutcome.Locked)
            {
                logger.LogInformation("KB {KbId}: push of {Count} commit(s) found {Lock}; replaying (attempt {Attempt})", kb.Id, committed, clone.LockedBy, attempt + 1);
            }
            else
            {
                logger.LogInformation("KB {KbId}: push of {Count} commit(s) rejected as non-fast-forward; replaying on the new head (attempt {Attempt})", kb.Id, committed, attempt + 1);
            }

            await Task.Delay(ReplayPause(attempt), cancellationToken);
        }
    }

    /// <summary>Moves the clone to the remote head: fetching to replay, and for agent tasks; otherwise as the clone last saw it.</summary>
    private async Task PullAsync(IKbClone clone, IReadOnlyList<PendingOperation> group, int attempt, CancellationToken cancellationToken)
    {
        steps.Report(group, OperationSteps.Pull);
        var step = Stopwatch.StartNew();
        var fetch = attempt > 1 || group.Any(o => o.Request.AgentTask is not null);
        using (WorkerTracing.Start(traces, "pull", group).Tag("kbsync.attempt", attempt).Tag("kbsync.pull.fetch", fetch))
        {
            await clone.SyncAsync(fetch, cancellationToken);
        }

        foreach (var operation in group)
        {
            operation.Timings.PullMs += step.Elapsed.TotalMilliseconds;
        }
    }

    /// <summary>Applies each request an earlier delivery did not finish on the clone's tip, in order; returns their outcomes and how many made a commit.</summary>
    private async Task<(Dictionary<PendingOperation, OperationOutcome> Outcomes, int Committed)> ProcessAsync(IKbClone clone, IReadOnlyList<PendingOperation> group,
        IReadOnlyDictionary<Guid, OperationOutcome> finishedEarlier, IReadOnlyList<string>? protectedPaths, CancellationToken cancellationToken)
    {
        steps.Report(group, OperationSteps.Process);
        var outcomes = new Dictionary<PendingOperation, OperationOutcome>();
        var committed = 0;
        foreach (var operation in group.Where(o => !finishedEarlier.ContainsKey(o.Id)))
        {
            var tipBefore = clone.Tip;
            using (var process = WorkerTracing.Start(traces, "process", [operation]))
            {
                process.Enter(operation); // the commit's span (LibGit2KbClone.Commit) nests here
                outcomes[operation] = clone.FindOperation(operation.Id) is { } earlier
                    ? OperationOutcome.Succeeded(earlier.CommitSha, earlier.NotePath, null)
                    : await ApplyAsync(clone, operation, protectedPaths, cancellationToken);
                process.Tag("kbsync.status", outcomes[operation].Status.ToWireName());
            }

            if (clone.Tip != tipBefore)
            {
                committed++;
            }
        }

        return (outcomes, committed);
    }

    /// <summary>
    /// One request on the clone's tip, its time charged to its timings. A request that fails for a reason
    /// of its own (a path conflict, an agent's failure) fails alone, charged the time it took as processing,
    /// and the rest of its group goes on; a damaged clone fails the group, which is then run again on a fresh clone.
    /// </summary>
    private async Task<OperationOutcome> ApplyAsync(IKbClone clone, PendingOperation operation, IReadOnlyList<string>? protectedPaths, CancellationToken cancellationToken)
    {
        FaultPoint.Reach(operation.Request.RequestedBy);
        var started = Stopwatch.StartNew();
        Applied applied;
        try
        {
            applied = operation.Request.Kind == OperationKind.Note
                ? notes.Apply(clone, operation)
                : await agents.ApplyAsync(clone, operation, ProtectedPaths.Of(protectedPaths), cancellationToken);
        }
        catch (OperationFailure failure) when (failure.ReasonCode != ReasonCodes.CorruptClone)
        {
            operation.Timings.ProcessMs += started.Elapsed.TotalMilliseconds;
            logger.LogWarning("KB {KbId}: {Kind} {OperationId} failed: {Reason}: {Message}", operation.Request.KbId, operation.Request.Kind.ToWireName(), operation.Id, failure.ReasonCode, failure.Message);
            return new OperationOutcome(OperationStatus.Failed, null, null, null, failure.ReasonCode, failure.Message);
        }

        operation.Timings.ProcessMs += applied.ProcessMs;
        operation.Timings.CommitMs += applied.CommitMs;
        return applied.Outcome;
    }

    private async Task<PushOutcome> PushAsync(IKbClone clone, KbRemote kb, IReadOnlyList<PendingOperation> group, int attempt, int commits, CancellationToken cancellationToken)
    {
        steps.Report(group, OperationSteps.Push);
        var step = Stopwatch.StartNew();
        PushOutcome pushed;
        using (var pushing = WorkerTracing.Start(traces, "push", group).Tag("kbsync.attempt", attempt).Tag("kbsync.push.commits", commits))
        {
            pushed = await clone.PushAsync(cancellationToken);
            pushing.Tag("kbsync.push.outcome", PushNames.Of(pushed));
        }

        metrics.Pushed(kb.Id, PushNames.Of(pushed), replaying: pushed is PushOutcome.NonFastForward or PushOutcome.Locked && attempt < _options.MaxPushAttempts);
        foreach (var operation in group)
        {
            operation.Timings.PushMs += step.Elapsed.TotalMilliseconds;
        }

        return pushed;
    }

    /// <summary>The last refusal says what blocked: a branch that kept moving, or one another writer kept locked.</summary>
    private static void GiveUp(IKbClone clone, KbRemote kb, IReadOnlyList<PendingOperation> group, PushOutcome pushed, int attempt)
    {
        if (pushed == PushOutcome.Locked)
        {
            group.FailAll(ReasonCodes.RemoteLocked, $"KB '{kb.Id}': {clone.LockedBy ?? $"the remote branch {kb.Branch} is locked by another writer"}; gave up after {attempt} attempts (KbWorker__MaxPushAttempts).");
        }
        else
        {
            group.FailAll(ReasonCodes.NonFastForward, $"KB '{kb.Id}': the remote branch {kb.Branch} kept moving; gave up after {attempt} attempts (KbWorker__MaxPushAttempts).");
        }
    }

    /// <summary>
    /// A short pause before a replay, longer each time, with jitter: whoever moved the branch may
    /// still be writing (a ref lock held, a run of pushes), and replaying at once would spend the
    /// attempts in a few milliseconds. 5 attempts span about a quarter of a second.
    /// </summary>
    private static TimeSpan ReplayPause(int attempt) => TimeSpan.FromMilliseconds(Math.Min(attempt * 25, 500) + Random.Shared.Next(25));

    /// <param name="onRemote">False for a KB without a remote: its commits stay in the worker's clone, and history says so.</param>
    private static void Settle(Dictionary<PendingOperation, OperationOutcome> outcomes, bool onRemote)
    {
        foreach (var (operation, outcome) in outcomes)
        {
            operation.Outcome = outcome.CommitSha is null ? outcome : outcome with { Pushed = onRemote };
        }
    }
}

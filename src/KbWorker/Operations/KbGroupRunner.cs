using KbSync.Contracts;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Locking;
using KbSync.KbWorker.Pipeline;
using KbSync.KbWorker.Telemetry;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// Runs one KB's pending requests under its lock, group by group, each group under its own deadline:
/// consecutive notes share a group, each agent task is a group of its own. The first group's deadline
/// also covers waiting for the registry and the lock. A failure that ends a group (its deadline, the
/// lock's timeout, an <see cref="OperationFailure"/> such as a git error) fails what is left of that
/// group, and the next group goes on; anything else goes up to the <see cref="Backstop"/>, to be retried.
/// </summary>
public sealed class KbGroupRunner(KbLocks locks, PushReplay replay, OperationTraces traces, IOptions<KbWorkerOptions> options, ILogger<KbGroupRunner> logger)
{
    private readonly KbWorkerOptions _options = options.Value;

    public async Task RunAsync(KbRun run, IReadOnlyList<PendingOperation> pending, CancellationToken cancellationToken)
    {
        var groups = Groups(pending).ToList();
        var deadline = NewDeadline(groups[0], cancellationToken);
        try
        {
            var kb = await run.RegisteredAsync(deadline.Token);
            if (kb is null)
            {
                pending.FailAll(ReasonCodes.UnknownKb, $"No KB '{run.KbId}' is registered: add it with 'kbsync kb add {run.KbId} --remote <url>'.");
                return;
            }

            KbLockHandle kbLock;
            using (var locking = WorkerTracing.Start(traces, "lock", pending).Tag("kbsync.lock.shared", run.Reader))
            {
                try
                {
                    kbLock = await locks.AcquireAsync(run.KbId, _options.LockTimeout, deadline.Token, run.Reader);
                }
                catch (Exception error) when (EndsGroup(error, deadline, cancellationToken))
                {
                    Fail(pending, error);
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
                        await replay.RunAsync(run, kb, group, deadline.Token);
                    }
                    catch (Exception error) when (EndsGroup(error, deadline, cancellationToken))
                    {
                        Fail(group, error);
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

    private TimeSpan Timeout(IReadOnlyList<PendingOperation> group) => group[0].Request.Kind == OperationKind.Agent ? _options.AgentTimeout : _options.NoteTimeout;

    /// <summary>True for a failure that ends a group (its deadline, the lock's timeout, an <see cref="OperationFailure"/>); anything else goes up to be retried.</summary>
    private static bool EndsGroup(Exception error, CancellationTokenSource deadline, CancellationToken cancellationToken) => error switch
    {
        OperationCanceledException => deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested,
        KbLockTimeoutException or OperationFailure => true,
        _ => false,
    };

    /// <summary>Fails what is left of <paramref name="group"/> for an error that <see cref="EndsGroup">ends it</see>.</summary>
    private void Fail(IReadOnlyList<PendingOperation> group, Exception error)
    {
        switch (error)
        {
            case OperationCanceledException:
                var setting = group[0].Request.Kind == OperationKind.Agent ? "KbWorker__AgentTimeout" : "KbWorker__NoteTimeout";
                group.FailAll(ReasonCodes.TimedOut, $"The operation passed its deadline of {Timeout(group).TotalSeconds:0.#} s ({setting}).", OperationStatus.TimedOut);
                break;
            case KbLockTimeoutException:
                group.FailAll(ReasonCodes.LockTimeout, error.Message);
                break;
            case OperationFailure failure:
                logger.LogWarning("KB {KbId}: {Reason}: {Message}", group[0].Request.KbId, failure.ReasonCode, failure.Message);
                group.FailAll(failure.ReasonCode, failure.Message);
                break;
        }
    }
}

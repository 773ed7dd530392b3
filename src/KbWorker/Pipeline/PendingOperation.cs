using KbSync.Contracts;

namespace KbSync.KbWorker.Pipeline;

/// <summary>One request while its group runs: when it started, its step timings, and how it ended.</summary>
public sealed class PendingOperation(KbRequest request, DateTimeOffset startedAt)
{
    public KbRequest Request { get; } = request;
    public Guid Id => Request.OperationId;

    /// <summary>
    /// The id it is recorded and answered under: its own, or a new one when its own belongs to another
    /// KB's or another principal's operation (<see cref="OperationOutcome.IdTaken"/>); the answer then
    /// carries its own id as <c>sentOperationId</c>.
    /// </summary>
    public Guid RecordedId { get; set; } = request.OperationId;
    public DateTimeOffset StartedAt { get; } = startedAt;
    public StepTimings Timings { get; } = new();

    /// <summary>Who the request is, once authorized (<see cref="Identity.RequestAuthorization"/>): the commit's committer.</summary>
    public Persistence.Identity.Principal? Principal { get; set; }

    /// <summary>
    /// True when the request's principal has the <c>manage</c> right on the KB (admins have it on every KB): only
    /// then may an agent task create, change or delete the KB's protected paths (<see cref="Agents.Protection.ProtectedPaths"/>).
    /// Set by <see cref="Identity.RequestAuthorization"/>; false until then, so nothing is allowed by default.
    /// </summary>
    public bool MayManage { get; set; }

    /// <summary>Null while the operation is still to be done.</summary>
    public OperationOutcome? Outcome { get; set; }

    /// <summary>True when an earlier delivery already finished it: history is left as it is, only the result is published again.</summary>
    public bool FinishedEarlier { get; set; }

    /// <summary>
    /// Failed as <c>internal_error</c> by the backstop after repeated failures: recorded and answered,
    /// its message goes to the partition's error queue rather than back to its queue.
    /// </summary>
    public bool Poisoned { get; set; }

    /// <summary>Refused before any work (no operation id, wrong partition): stays refused when the group is run again.</summary>
    public bool Rejected { get; private set; }

    public void Reject(string reasonCode, string message)
    {
        Fail(reasonCode, message);
        Rejected = true;
    }

    /// <summary>Forgets a failed attempt's outcome and timings before the group is run again.</summary>
    public void Reset()
    {
        Outcome = Rejected ? Outcome : null;
        FinishedEarlier = false;
        RecordedId = Id;
        Timings.LockWaitMs = Timings.PullMs = Timings.ProcessMs = Timings.CommitMs = Timings.PushMs = 0;
    }

    public void Fail(string reasonCode, string message, OperationStatus status = OperationStatus.Failed) =>
        Outcome = new OperationOutcome(status, null, null, null, reasonCode, message);
}

public static class PendingOperations
{
    /// <summary>Fails every operation of <paramref name="operations"/> that has no outcome yet; those with one keep it.</summary>
    public static void FailAll(this IEnumerable<PendingOperation> operations, string reasonCode, string message, OperationStatus status = OperationStatus.Failed)
    {
        foreach (var operation in operations.Where(o => o.Outcome is null))
        {
            operation.Fail(reasonCode, message, status);
        }
    }
}

/// <summary>
/// What applying one request to the clone came to (<c>NoteWriter</c>, <c>AgentTaskRunner</c>): its outcome, and
/// the milliseconds it spent processing and committing. The runner adds them to the request's <see cref="StepTimings"/>.
/// </summary>
public sealed record Applied(OperationOutcome Outcome, double ProcessMs, double CommitMs);

/// <summary>Milliseconds spent in each step. A group's shared steps (lock, pull, push) count for each of its requests.</summary>
public sealed class StepTimings
{
    public double LockWaitMs { get; set; }
    public double PullMs { get; set; }
    public double ProcessMs { get; set; }
    public double CommitMs { get; set; }
    public double PushMs { get; set; }
}

public sealed record OperationOutcome(OperationStatus Status, string? CommitSha, string? NotePath, string? Title, string? ErrorCode, string? ErrorMessage)
{
    /// <summary>For a commit: true once it is on the remote, false when the KB has no remote.</summary>
    public bool? Pushed { get; init; }

    /// <summary>What an agent task did.</summary>
    public AgentResult? Agent { get; init; }

    public static OperationOutcome Succeeded(string commitSha, string? notePath, string? title) =>
        new(OperationStatus.Succeeded, commitSha, notePath, title, null, null);

    public static OperationOutcome Duplicate(string? title) =>
        new(OperationStatus.Duplicate, null, null, title, null, null);

    /// <summary>The operation id is another KB's or another principal's: this request is refused, and never answered with that operation's result.</summary>
    public static OperationOutcome IdTaken(Guid id) =>
        new(OperationStatus.Failed, null, null, null, ReasonCodes.InvalidRequest,
            $"The operation id {id} is already used by another request (of another KB or another principal): choose a new, random one for every request. This failure is recorded and answered under a new id; sentOperationId is yours.")
        {
            IsIdTaken = true,
        };

    /// <summary>See <see cref="IdTaken"/>.</summary>
    public bool IsIdTaken { get; init; }
}

using KbSync.Persistence.Entities;
using KbSync.Persistence.History;
using KbSync.Producer.Api.Security;

namespace KbSync.Producer.Api;

/// <summary>Body of <c>POST /kbs/{kb}/notes</c>.</summary>
public sealed record SubmitNoteBody(string? RequestedBy, string? Text, string? Title = null, string? Category = null, IReadOnlyList<string>? Tags = null, Guid? OperationId = null);

/// <summary>
/// Answer to an accepted request: where to follow it, and its place in its partition queue (1: it is
/// next; see <see cref="OperationHistory.QueuePositionAsync"/>); null when the queue tap had not recorded it within 2 s.
/// </summary>
public sealed record AcceptedOperation(Guid OperationId, string KbId, string StatusUrl, int? QueuePosition);

/// <summary>An operation as <c>GET /operations/{id}</c> shows it: the history row, and its place in its partition queue while open.</summary>
public sealed record OperationView(OperationRecord Operation, int? QueuePosition, PauseView? Paused = null);

/// <summary>Body of <c>POST /kbs</c>.</summary>
public sealed record RegisterKbBody(string? Id, string? Remote, string? Branch = null, string? TokenEnv = null, bool Replace = false);

/// <summary>Body of <c>POST /kbs/{kb}/agent-tasks</c>.</summary>
public sealed record SubmitAgentTaskBody(string? RequestedBy, string? Instruction, string? Agent = null, IReadOnlyList<KbSync.Contracts.FileOperation>? Operations = null, bool ReadOnly = false, Guid? OperationId = null);

/// <summary>Who the caller is: <c>GET /me</c>.</summary>
public sealed record CallerView(Guid Id, string Name, string Email, string Role)
{
    public static CallerView For(Persistence.Identity.Principal principal) => new(principal.Id, principal.Name, principal.Email, principal.Role);
}

/// <summary>
/// A registered KB as the caller may see it (<c>GET /kbs</c>, <c>POST /kbs</c>), with the caller's
/// <see cref="Rights"/> on it. <see cref="TokenEnv"/>, the name of the variable holding the KB's
/// secret on the workers, is shown only to those who may manage the KB.
/// </summary>
public sealed record KbView(string Id, string? RemoteUrl, string Branch, string? TokenEnv, IReadOnlyList<string>? ProtectedPaths, DateTimeOffset CreatedAt, IReadOnlyList<string> Rights)
{
    public static KbView For(KnowledgeBaseRecord kb, CallerKbs caller) => new(
        kb.Id, kb.RemoteUrl, kb.Branch, caller.May(kb.Id, Persistence.Identity.KbRights.Manage) ? kb.TokenEnv : null, kb.ProtectedPaths, kb.CreatedAt, caller.RightsOn(kb.Id));
}

/// <summary>A KB's live queue (<c>GET /queues</c>): see <see cref="KbQueue"/>.</summary>
public sealed record QueueView(string KbId, int Queued, int Running, DateTimeOffset OldestRequestedAt, int Partition, PauseView? Paused)
{
    public static QueueView For(KbQueue queue, CallerKbs caller) =>
        new(queue.KbId, queue.Queued, queue.Running, queue.OldestRequestedAt, queue.Partition,
            queue.Paused is { } pause ? PauseView.For(pause, caller.MayRead(pause.KbId)) : null);
}

/// <summary>
/// A paused partition as the caller may see it. A partition is shared by several KBs: when the run
/// that pauses it is another KB's, one the caller may not read, its KB id and its reason (which may
/// quote that KB's remote or error) are left out; the caller learns only that its KB waits.
/// </summary>
public sealed record PauseView(int Partition, string? KbId, string WorkerId, DateTimeOffset Since, string Reason, int Attempts)
{
    public const string OtherKbReason = "A run of another KB of this partition is being retried; this KB's requests wait behind it.";

    public static PauseView For(PartitionPause pause, bool mayReadItsKb) => mayReadItsKb
        ? new(pause.Partition, pause.KbId, pause.WorkerId, pause.Since, pause.Reason, pause.Attempts)
        : new(pause.Partition, null, pause.WorkerId, pause.Since, OtherKbReason, pause.Attempts);
}

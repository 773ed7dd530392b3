namespace KbSync.Producer.Api;

/// <summary>Body of <c>POST /kbs/{kb}/notes</c>.</summary>
public sealed record SubmitNoteBody(string? RequestedBy, string? Text, string? Title = null, string? Category = null, IReadOnlyList<string>? Tags = null, Guid? OperationId = null);

/// <summary>Answer to an accepted request: where to follow it, and how many of the KB's requests are ahead of it (1: it is next).</summary>
public sealed record AcceptedOperation(Guid OperationId, string KbId, string StatusUrl, int QueuePosition);

/// <summary>An operation as <c>GET /operations/{id}</c> shows it: the history row, and its place in the KB's queue while open.</summary>
public sealed record OperationView(KbSync.Persistence.Entities.OperationRecord Operation, int? QueuePosition, KbSync.Persistence.History.PartitionPause? Paused = null);

/// <summary>Body of <c>POST /kbs</c>.</summary>
public sealed record RegisterKbBody(string? Id, string? Remote, string? Branch = null, string? TokenEnv = null, bool Replace = false);

/// <summary>Body of <c>POST /kbs/{kb}/agent-tasks</c>.</summary>
public sealed record SubmitAgentTaskBody(string? RequestedBy, string? Instruction, string? Agent = null, IReadOnlyList<KbSync.Contracts.FileOperation>? Operations = null, bool ReadOnly = false, Guid? OperationId = null);

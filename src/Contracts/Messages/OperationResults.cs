namespace KbSync.Contracts;

/// <summary>
/// Published when an operation ends well: its commit is on the remote (or, for a duplicate, the
/// same text already was; for an agent task that changed nothing, there is no commit). Published again if the same operation id is delivered again.
/// </summary>
public sealed record OperationCompleted(
    Guid OperationId,
    string KbId,
    OperationKind Kind,
    OperationStatus Status,
    string? CommitSha,
    string? NotePath,
    DateTimeOffset FinishedAt,
    AgentResult? Agent = null);

/// <summary>Published when an operation fails; <see cref="ReasonCode"/> is one of <see cref="ReasonCodes"/>.</summary>
public sealed record OperationFailed(
    Guid OperationId,
    string? KbId,
    OperationKind Kind,
    OperationStatus Status,
    string ReasonCode,
    string Message,
    DateTimeOffset FinishedAt);

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

/// <summary>
/// Published when an operation fails; <see cref="ReasonCode"/> is one of <see cref="ReasonCodes"/>.
/// <see cref="KbId"/> is null when the request named no valid KB id. When the request's operation id
/// was missing or not a UUID, <see cref="OperationId"/> is a new one the failure is recorded under, and
/// <see cref="SentOperationId"/> is what the request carried (as text; null when it carried none), so
/// its producer can still match the answer.
/// </summary>
public sealed record OperationFailed(
    Guid OperationId,
    string? KbId,
    OperationKind Kind,
    OperationStatus Status,
    string ReasonCode,
    string Message,
    DateTimeOffset FinishedAt,
    string? SentOperationId = null);

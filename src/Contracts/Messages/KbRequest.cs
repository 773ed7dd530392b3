using System.Text.Json.Serialization;

namespace KbSync.Contracts;

/// <summary>
/// A request to change (or read) a knowledge base, published by any producer to the partition of
/// its KB (see <see cref="Topology"/> and docs/wire-format.md). Exactly one payload is set: a note
/// or an agent task. Notes and agent tasks of one KB share a queue, so they keep one order.
/// </summary>
/// <param name="OperationId">Chosen by the producer; re-publishing the same id never makes a second commit.</param>
/// <param name="KbId">The KB's slug (see <see cref="KbIds"/>).</param>
/// <param name="RequestedBy">Who asked: becomes the commit author.</param>
/// <param name="RequestedAt">When the producer published it (UTC); queue wait is measured from here.</param>
/// <param name="Note">A note to add.</param>
/// <param name="AgentTask">An agent task to run.</param>
public sealed record KbRequest(
    Guid OperationId,
    string KbId,
    string RequestedBy,
    DateTimeOffset RequestedAt,
    NoteContent? Note = null,
    AgentTaskContent? AgentTask = null)
{
    [JsonIgnore]
    public OperationKind Kind => AgentTask is not null && Note is null ? OperationKind.Agent : OperationKind.Note;
}

/// <summary>A note: its text (Markdown) and optional title, category and tags.</summary>
public sealed record NoteContent(
    string Text,
    string? Title = null,
    string? Category = null,
    IReadOnlyList<string>? Tags = null);

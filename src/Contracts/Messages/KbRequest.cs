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
/// <param name="OnBehalfOf">
/// The principal a trusted relay (the HTTP API) publishes for; only a relay's requests may name one.
/// Without it the request is the publisher's own (its broker-validated <c>user_id</c>).
/// </param>
public sealed record KbRequest(
    Guid OperationId,
    string KbId,
    string RequestedBy,
    DateTimeOffset RequestedAt,
    NoteContent? Note = null,
    AgentTaskContent? AgentTask = null,
    string? OnBehalfOf = null)
{
    [JsonIgnore]
    public OperationKind Kind => AgentTask is not null && Note is null ? OperationKind.Agent : OperationKind.Note;

    /// <summary>
    /// The publisher's RabbitMQ user as the broker validated it (the message's <c>user_id</c>
    /// property), set by the worker when the request arrives. Never read from the body: a producer
    /// cannot claim an identity in JSON.
    /// </summary>
    [JsonIgnore]
    public string? BrokerUser { get; init; }
}

/// <summary>A note: its text (Markdown) and optional title, category and tags.</summary>
public sealed record NoteContent(
    string Text,
    string? Title = null,
    string? Category = null,
    IReadOnlyList<string>? Tags = null);

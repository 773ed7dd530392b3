using System.Text.Json.Serialization;
using KbSync.Contracts;

namespace KbSync.Persistence.Entities;

/// <summary>
/// One KB operation, from the moment the queue tap (or a worker, if quicker) sees it to its end.
/// The primary key is the producer's operation id, so a redelivered request finds its row.
/// Durations are milliseconds.
/// </summary>
public sealed class OperationRecord
{
    public Guid Id { get; set; }
    public string KbId { get; set; } = "";
    public OperationKind Kind { get; set; }
    public string RequestedBy { get; set; } = "";

    /// <summary>The authenticated principal the request was made as (the committer); null before identities, or when it had none.</summary>
    public string? Principal { get; set; }
    public OperationStatus Status { get; set; }

    /// <summary>While running: the step it is in (<see cref="OperationSteps"/>); null otherwise.</summary>
    public string? Step { get; set; }

    public DateTimeOffset RequestedAt { get; set; }

    /// <summary>
    /// Its place in the broker's order: the queue tap numbers requests as they reach their partition
    /// queue (<c>operation_queue_seq</c>), so a queue position counts the requests really ahead, whatever
    /// the producers' clocks say. Null until the tap has seen it (a worker was quicker), and for rows older than the tap.
    /// </summary>
    [JsonIgnore]
    public long? QueueSeq { get; set; }

    /// <summary>The broker message id of the publish the tap saw, so that only its publisher can say the broker refused it; never shown.</summary>
    [JsonIgnore]
    public string? QueuedMessageId { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>From <see cref="RequestedAt"/> to a worker taking the request.</summary>
    public double? QueueWaitMs { get; set; }
    public double? LockWaitMs { get; set; }
    /// <summary>Bringing the clone to the remote head (fetch, or clone the first time).</summary>
    public double? PullMs { get; set; }
    /// <summary>Working out the change: note layout, duplicate and collision checks.</summary>
    public double? ProcessMs { get; set; }
    /// <summary>Writing blobs, trees and the commit.</summary>
    public double? CommitMs { get; set; }
    public double? PushMs { get; set; }

    public string? Title { get; set; }
    public string? NotePath { get; set; }
    public string? CommitSha { get; set; }

    /// <summary>True once the commit is on the remote; false when the KB has no remote and the commit stays in the worker's clone.</summary>
    public bool? Pushed { get; set; }

    /// <summary>For an agent task: what it did (an <see cref="AgentResult"/> as JSON: summary, files created, edited, deleted, moved, outputs of reads).</summary>
    public string? ResultJson { get; set; }

    /// <summary>One of <see cref="ReasonCodes"/> when the operation failed.</summary>
    public string? ErrorCode { get; set; }
    public string? ErrorMessage { get; set; }

    /// <summary>The worker that last handled it.</summary>
    public string? WorkerId { get; set; }
    /// <summary>How many times a worker started it (more than one after a redelivery or a retry).</summary>
    public int Attempts { get; set; }
}

/// <summary>The steps a running operation goes through, as <see cref="OperationRecord.Step"/> shows them.</summary>
public static class OperationSteps
{
    public const string Lock = "lock";
    public const string Pull = "pull";
    public const string Process = "process";
    public const string Push = "push";
}

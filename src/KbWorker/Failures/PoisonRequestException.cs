namespace KbSync.KbWorker.Failures;

/// <summary>
/// Thrown by the consumer for a request the <see cref="Backstop"/> gave up on: its failure is recorded
/// (<c>internal_error</c>) and answered already, and the message moves to the partition's error queue
/// (<c>kb-partition-NN_error</c>) for inspection instead of being retried again after a restart.
/// </summary>
public sealed class PoisonRequestException(Guid operationId, string reason)
    : Exception($"Operation {operationId} was failed as internal_error after repeated failures and is moved to the error queue: {reason}");

using KbSync.Contracts;
using KbSync.KbWorker.Pipeline;

namespace KbSync.KbWorker.Operations;

/// <summary>
/// Tells requesters how their operations ended: <see cref="OperationCompleted"/> or
/// <see cref="OperationFailed"/> on the result exchanges (docs/wire-format.md). The one way result
/// events leave the worker, for the runs' outcomes (<see cref="KbOperationRunner"/>) and for messages
/// that could not be read as requests alike; Messaging implements it on the bus.
/// </summary>
public interface IResultPublisher
{
    /// <summary>
    /// The operation's result as its outcome says: <see cref="OperationCompleted"/> when it succeeded or was a
    /// duplicate, <see cref="OperationFailed"/> otherwise; under the id it was recorded under.
    /// </summary>
    Task PublishAsync(PendingOperation operation, DateTimeOffset finishedAt, CancellationToken cancellationToken);

    /// <summary>A failure with no readable request behind it (an unreadable message).</summary>
    Task PublishAsync(OperationFailed failed, CancellationToken cancellationToken);
}

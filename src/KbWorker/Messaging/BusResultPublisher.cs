using KbSync.Contracts;
using KbSync.KbWorker.Operations;
using KbSync.KbWorker.Pipeline;
using MassTransit;

namespace KbSync.KbWorker.Messaging;

/// <summary>
/// Publishes result events on the bus, to the exchanges <see cref="MessagingExtensions"/> names
/// (<see cref="Topology.CompletedExchange"/>, <see cref="Topology.FailedExchange"/>); each publish waits
/// for the broker's confirm.
/// <para>
/// The bus is given as a <see cref="Lazy{T}"/>, resolved at the first publish: the partition endpoints'
/// receive observer (<see cref="Ordering.DeliveryObserver"/>) is created while the bus itself is built,
/// and reaches this class through the sequencers and the operation runner.
/// </para>
/// </summary>
public sealed class BusResultPublisher(Lazy<IBus> bus) : IResultPublisher
{
    public Task PublishAsync(PendingOperation operation, DateTimeOffset finishedAt, CancellationToken cancellationToken)
    {
        var outcome = operation.Outcome ?? throw new InvalidOperationException($"Operation {operation.Id} has no outcome to publish.");
        var request = operation.Request;
        if (outcome.Status is OperationStatus.Succeeded or OperationStatus.Duplicate)
        {
            return bus.Value.Publish(new OperationCompleted(operation.RecordedId, request.KbId, request.Kind, outcome.Status, outcome.CommitSha, outcome.NotePath, finishedAt, outcome.Agent), cancellationToken);
        }

        // a request whose KB id is not one (it may hold anything) fails with no KB id
        return PublishAsync(new OperationFailed(operation.RecordedId, KbIds.IsValid(request.KbId) ? request.KbId : null, request.Kind, outcome.Status, outcome.ErrorCode ?? ReasonCodes.InternalError, outcome.ErrorMessage ?? "", finishedAt,
            operation.RecordedId == operation.Id ? null : operation.Id.ToString()), cancellationToken);
    }

    public Task PublishAsync(OperationFailed failed, CancellationToken cancellationToken) => bus.Value.Publish(failed, cancellationToken);
}

using KbSync.Contracts;
using KbSync.KbWorker.Operations;
using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging;

/// <summary>
/// Takes the requests waiting in one partition queue, in delivery order, and runs each KB's share
/// as one group (in order within the KB); different KBs run in parallel. The batch is acknowledged
/// only when every group has recorded its outcome and published its result.
/// </summary>
public sealed class KbRequestBatchConsumer(KbOperationRunner runner, IOptions<RabbitMqOptions> rabbit) : IConsumer<Batch<KbRequest>>
{
    public Task Consume(ConsumeContext<Batch<KbRequest>> context)
    {
        var startedAt = DateTimeOffset.UtcNow;
        Topology.TryParsePartitionQueue(context.ReceiveContext.InputAddress.AbsolutePath, out var partition);
        var operations = context.Message
            .Select(m => m.Message)
            .DistinctBy(r => r.OperationId)
            .Select(r => ToPending(r, partition, startedAt));

        return Task.WhenAll(operations
            .GroupBy(o => o.Request.KbId ?? "")
            .Select(kb => runner.RunAsync(kb.Key, kb.ToList(), context, context.CancellationToken)));
    }

    /// <summary>Requests without an operation id get one, so their failure is recorded; misrouted requests fail, as their order could not be kept.</summary>
    private PendingOperation ToPending(KbRequest request, int partition, DateTimeOffset startedAt)
    {
        if (request.OperationId == Guid.Empty)
        {
            var recorded = new PendingOperation(request with { OperationId = Guid.NewGuid() }, startedAt);
            recorded.Fail(ReasonCodes.InvalidRequest, "operationId is missing: every request needs a unique id chosen by its producer.");
            return recorded;
        }

        var operation = new PendingOperation(request, startedAt);
        if (KbIds.IsValid(request.KbId) && Partitioning.PartitionOf(request.KbId, rabbit.Value.Partitions) is var expected && expected != partition)
        {
            operation.Fail(ReasonCodes.InvalidRequest,
                $"KB '{request.KbId}' belongs to partition {expected} of {rabbit.Value.Partitions}, but the request was routed to partition {partition}: producers and workers must agree on RabbitMq__Partitions and route with FNV-1a (docs/wire-format.md).");
        }

        return operation;
    }
}

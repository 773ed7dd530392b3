using System.Collections.Concurrent;
using KbSync.Contracts;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Operations;
using KbSync.KbWorker.Pipeline;
using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// One <see cref="PartitionSequencer"/> per partition queue, all running their KB groups through
/// <see cref="KbOperationRunner"/>, each under the <see cref="Backstop"/>: a request's own failure is its outcome, a service that does not
/// answer pauses the partition in order, and a run that keeps failing while the services answer ends
/// with <c>internal_error</c> for the request to blame.
/// </summary>
public sealed class PartitionSequencers(KbOperationRunner runner, Backstop backstop, IOptions<KbWorkerOptions> options, Partitions.LiveLayouts layouts, ILoggerFactory loggers) : IDisposable
{
    private readonly ConcurrentDictionary<int, PartitionSequencer> _sequencers = new();
    private readonly SemaphoreSlim _readOnlySlots = new(Math.Max(1, options.Value.MaxReadOnlyTasks));
    private readonly ChannelHandOver _handOver = new(loggers.CreateLogger<ChannelHandOver>());

    /// <summary>
    /// Lets the partition's running KB groups finish and gives its waiting requests back to the queue, in order (<see cref="ChannelHandOver"/>).
    /// Made for a partition that has had no delivery yet too, so that one arriving late is given back as well.
    /// </summary>
    public Task HandOverAsync(int partition, CancellationToken cancellationToken) => _handOver.HandOverAsync(For(partition), cancellationToken);

    /// <summary>Cancels the partition's running KB groups (<see cref="PartitionSequencer.Abort"/>).</summary>
    public void Abort(int partition)
    {
        if (_sequencers.TryGetValue(partition, out var sequencer))
        {
            sequencer.Abort();
        }
    }

    /// <summary>What the partition is doing, for the log at a stop.</summary>
    public string Describe(int partition) => _sequencers.TryGetValue(partition, out var sequencer) ? sequencer.Describe() : "no delivery yet";

    /// <summary>After a hand-over: the partition starts afresh if this worker takes it again.</summary>
    public void Forget(int partition) => _sequencers.TryRemove(partition, out _);

    /// <summary>Whether the partition has a run in progress or requests waiting here.</summary>
    public bool IsBusy(int partition) => _sequencers.TryGetValue(partition, out var sequencer) && sequencer.IsBusy;

    public PartitionSequencer For(int partition) =>
        _sequencers.GetOrAdd(partition, p => new PartitionSequencer(p, options.Value.MaxBatchSize, options.Value.MaxGroupsPerPartition, RunAsync, loggers.CreateLogger<PartitionSequencer>(), options.Value.DeliveryGapTimeout, RunReadOnlyAsync));

    /// <summary>One KB's group (the sequencer's lanes are by KB id), in order, under the backstop.</summary>
    private async Task<IReadOnlyList<PendingOperation>> RunAsync(int partition, IReadOnlyList<KbRequest> requests, CancellationToken cancellationToken)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var operations = requests.Select(r => ToPending(r, partition, startedAt)).ToList();
        var kbId = requests[0].KbId ?? "";
        await backstop.RunAsync(partition, kbId, operations.DistinctBy(o => o.Id).ToList(), group => runner.RunAsync(kbId, group, cancellationToken), GiveUp(cancellationToken), cancellationToken);

        var byId = operations.DistinctBy(o => o.Id).ToDictionary(o => o.Id);
        return operations.Select(o => byId[o.Id]).ToList();
    }

    private async Task<PendingOperation> RunReadOnlyAsync(int partition, KbRequest request, CancellationToken cancellationToken)
    {
        // they skip the partition's order, so nothing else bounds how many run at once: a flood of them would take every core
        await _readOnlySlots.WaitAsync(cancellationToken);
        try
        {
            var operation = ToPending(request, partition, DateTimeOffset.UtcNow);
            await backstop.RunAsync(partition, request.KbId ?? "", [operation], _ => runner.RunReadOnlyAsync(operation, cancellationToken), GiveUp(cancellationToken), cancellationToken);
            return operation;
        }
        finally
        {
            _readOnlySlots.Release();
        }
    }

    /// <summary>Requests without an operation id get one, so their failure is recorded; misrouted requests fail, as their order could not be kept.</summary>
    private PendingOperation ToPending(KbRequest request, int partition, DateTimeOffset startedAt)
    {
        if (request.OperationId == Guid.Empty)
        {
            var recorded = new PendingOperation(request with { OperationId = Guid.NewGuid() }, startedAt);
            recorded.Reject(ReasonCodes.InvalidRequest, "operationId is missing: every request needs a unique id chosen by its producer.");
            return recorded;
        }

        var operation = new PendingOperation(request, startedAt);
        if (KbIds.IsValid(request.KbId) && layouts.Misrouted(request.KbId, partition) is { } misrouted)
        {
            operation.Reject(ReasonCodes.InvalidRequest, misrouted);
        }

        return operation;
    }

    private Func<PendingOperation, Task> GiveUp(CancellationToken cancellationToken) => operation => runner.RecordFailureAsync(operation, cancellationToken);

    /// <summary>Disposed with the worker's services (a singleton), after the bus has stopped.</summary>
    public void Dispose()
    {
        foreach (var sequencer in _sequencers.Values)
        {
            sequencer.Dispose();
        }

        _readOnlySlots.Dispose();
    }
}

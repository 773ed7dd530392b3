using System.Collections.Concurrent;
using KbSync.Contracts;
using KbSync.KbWorker.Operations;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// One <see cref="PartitionSequencer"/> per partition queue, all running their runs through
/// <see cref="KbOperationRunner"/>: each KB's share of a run as one group, KBs in parallel. A group
/// that fails for an infrastructure reason (database, broker) is retried in place, with backoff,
/// until it succeeds or the worker stops: the partition waits rather than reorder or drop anything.
/// </summary>
public sealed class PartitionSequencers(KbOperationRunner runner, IServiceProvider services, IOptions<KbWorkerOptions> options, IOptions<RabbitMqOptions> rabbit, ILoggerFactory loggers)
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<int, PartitionSequencer> _sequencers = new();
    private readonly ILogger _logger = loggers.CreateLogger<PartitionSequencers>();

    /// <summary>
    /// Lets the partition's running run finish and gives its waiting requests back to the queue, in order (<see cref="PartitionSequencer.HandOverAsync"/>).
    /// Made for a partition that has had no delivery yet too, so that one arriving late is given back as well.
    /// </summary>
    public Task HandOverAsync(int partition, CancellationToken cancellationToken) => For(partition).HandOverAsync(cancellationToken);

    /// <summary>After a hand-over: the partition starts afresh if this worker takes it again.</summary>
    public void Forget(int partition) => _sequencers.TryRemove(partition, out _);

    /// <summary>Whether the partition has a run in progress or requests waiting here.</summary>
    public bool IsBusy(int partition) => _sequencers.TryGetValue(partition, out var sequencer) && sequencer.IsBusy;

    /// <summary>Resolved when first used: the bus's own configuration needs this class, so it cannot take the bus in its constructor.</summary>
    private IBus Bus => services.GetRequiredService<IBus>();

    public PartitionSequencer For(int partition) =>
        _sequencers.GetOrAdd(partition, p => new PartitionSequencer(p, options.Value.MaxBatchSize, RunAsync, loggers.CreateLogger<PartitionSequencer>(), options.Value.DeliveryGapTimeout, RunReadOnlyAsync));

    private async Task<IReadOnlyList<PendingOperation>> RunAsync(int partition, IReadOnlyList<KbRequest> requests, CancellationToken cancellationToken)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var operations = requests.Select(r => ToPending(r, partition, startedAt)).ToList();
        var groups = operations
            .DistinctBy(o => o.Id)
            .GroupBy(o => o.Request.KbId ?? "")
            .Select(kb => RunGroupAsync(kb.Key, kb.ToList(), cancellationToken));
        await Task.WhenAll(groups);

        var byId = operations.DistinctBy(o => o.Id).ToDictionary(o => o.Id);
        return operations.Select(o => byId[o.Id]).ToList();
    }

    private async Task<PendingOperation> RunReadOnlyAsync(int partition, KbRequest request, CancellationToken cancellationToken)
    {
        var operation = ToPending(request, partition, DateTimeOffset.UtcNow);
        await RetryAsync(request.KbId ?? "", [operation], () => runner.RunReadOnlyAsync(operation, Bus, cancellationToken), cancellationToken);
        return operation;
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
        var partitions = rabbit.Value.Partitions;
        if (KbIds.IsValid(request.KbId) && Partitioning.PartitionOf(request.KbId, partitions) is var expected && expected != partition)
        {
            operation.Reject(ReasonCodes.InvalidRequest,
                $"KB '{request.KbId}' belongs to partition {expected} of {partitions}, but the request was routed to partition {partition}: producers and workers must agree on RabbitMq__Partitions and route with FNV-1a (docs/wire-format.md).");
        }

        return operation;
    }

    private Task RunGroupAsync(string kbId, List<PendingOperation> group, CancellationToken cancellationToken) =>
        RetryAsync(kbId, group, () => runner.RunAsync(kbId, group, Bus, cancellationToken), cancellationToken);

    private async Task RetryAsync(string kbId, List<PendingOperation> group, Func<Task> run, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await run();
                return;
            }
            catch (Exception error) when (!cancellationToken.IsCancellationRequested)
            {
                var delay = TimeSpan.FromSeconds(Math.Min(MaxBackoff.TotalSeconds, Math.Pow(2, attempt - 1)));
                _logger.LogError(error, "KB {KbId}: {Count} request(s) failed for an infrastructure reason (attempt {Attempt}); retrying in {Delay}. The partition waits meanwhile.", kbId, group.Count, attempt, delay);
                foreach (var operation in group)
                {
                    operation.Reset();
                }

                await Task.Delay(delay, cancellationToken);
            }
        }
    }
}

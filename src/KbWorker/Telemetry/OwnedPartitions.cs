using System.Collections.Concurrent;
using KbSync.Contracts;
using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Telemetry;

/// <summary>
/// The partitions this worker consumes right now, as MassTransit's receive endpoints report them: a
/// partition counts from its endpoint being ready until it begins to stop (a hand-over, or the worker
/// stopping). Read by the <c>kbsync.partitions.owned</c> gauge, so an operator sees the partitions
/// spread over the workers, and a worker that owns none.
/// </summary>
public sealed class OwnedPartitions(IOptions<KbWorkerOptions> options) : IReceiveEndpointObserver
{
    private readonly ConcurrentDictionary<int, bool> _owned = new();

    public string WorkerId { get; } = options.Value.WorkerId;

    public int Count => _owned.Count;

    public Task Ready(ReceiveEndpointReady ready) => Change(ready.InputAddress, owned: true);

    public Task Stopping(ReceiveEndpointStopping stopping) => Change(stopping.InputAddress, owned: false);

    public Task Completed(ReceiveEndpointCompleted completed) => Change(completed.InputAddress, owned: false);

    public Task Faulted(ReceiveEndpointFaulted faulted) => Change(faulted.InputAddress, owned: false);

    private Task Change(Uri address, bool owned)
    {
        if (Topology.TryParsePartitionQueue(address.AbsolutePath, out var partition))
        {
            if (owned)
            {
                _owned[partition] = true;
            }
            else
            {
                _owned.TryRemove(partition, out _);
            }
        }

        return Task.CompletedTask;
    }
}

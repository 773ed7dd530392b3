using System.Collections.Concurrent;
using KbSync.Contracts;
using KbSync.KbWorker.Messaging.Ordering;
using KbSync.Persistence.Partitions;
using MassTransit;
using Microsoft.Extensions.Options;

namespace KbSync.KbWorker.Messaging.Partitions;

/// <summary>
/// Spreads the partitions over the live workers: each worker subscribes only to the partitions it owns
/// (<see cref="PartitionLocks"/>), up to its share (<see cref="PartitionShare"/>: P / workers, the
/// remainder going one each to the first workers in rank). A worker over its share hands the extras
/// over, idle partitions first; a worker under it claims free ones. RabbitMQ's single active consumer alone would give
/// every partition to the first worker that subscribed, leaving the others idle as standbys.
/// <para>
/// Handing a partition over keeps its order: the running run finishes, then the partition's channel
/// closes, which makes RabbitMQ put every request still waiting here back in the queue, in order
/// (<see cref="ChannelHandOver"/>), and the endpoint stops. Only then is the lock
/// released, so the next owner subscribes to a queue that is whole again. A graceful stop
/// hands over every partition this way, before MassTransit stops.
/// </para>
/// <para>
/// The partitions shared are those of every live layout (<see cref="LiveLayouts"/>): while a change of
/// partition count is under way, the older layout's and the current one's. What an owner does with each is
/// <see cref="LayoutSet.RoleOf"/>'s decision: run it, hold it back (a current partition whose KBs an undrained
/// older partition may still hold), or forward it (<see cref="PartitionForwarder"/>). An older partition that
/// runs is checked at every balance: once its queue is empty it is handed over as above, recorded as
/// drained, and forwarded from then on (<see cref="DrainAsync"/>).
/// </para>
/// </summary>
public sealed class PartitionOwnership(
    PartitionLocks locks,
    PartitionSequencers sequencers,
    PartitionPauses pauses,
    LiveLayouts layouts,
    PartitionForwarding forwarding,
    IReceiveEndpointConnector endpoints,
    IOptions<KbWorkerOptions> options,
    ILogger<PartitionOwnership> logger) : BackgroundService, IHostedLifecycleService
{
    private static readonly TimeSpan WaitSlice = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan EmptyRecheck = TimeSpan.FromMilliseconds(100);
    private readonly ConcurrentDictionary<int, Owned> _owned = new(); // hand-overs run side by side
    private readonly HashSet<int> _declared = [];
    private volatile bool _stopping;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.PartitionBalanceInterval;
        while (!_stopping && !stoppingToken.IsCancellationRequested)
        {
            try
            {
                await BalanceAsync(stoppingToken);
                await WaitForChangeAsync(interval, stoppingToken);
            }
            catch (Exception error) when (!_stopping && !stoppingToken.IsCancellationRequested)
            {
                // one line per try: while PostgreSQL is down this repeats every interval, and the stack says nothing new
                logger.LogWarning("Partition ownership could not be checked ({Message}); the {Count} partition(s) owned stay as they are, next try in {Interval}.", error.Message, _owned.Count, interval);
                await DelayAsync(interval, stoppingToken);
            }
        }
    }

    private async Task BalanceAsync(CancellationToken cancellationToken)
    {
        var renewed = await locks.ConnectAsync(cancellationToken);
        if (renewed)
        {
            await ReclaimAsync(cancellationToken);
            await locks.AnnounceAsync(cancellationToken);
        }

        var snapshot = await locks.ReadAsync(cancellationToken); // first: a database gone is found on the lock session, which says so and reconnects
        var set = await layouts.RefreshAsync(cancellationToken);
        foreach (var layout in set.Live.Where(l => !_declared.Contains(l.Epoch)))
        {
            await forwarding.DeclareAsync(layout, cancellationToken); // a layout that became live since this worker started (kbsync partitions change declares it too)
            _declared.Add(layout.Epoch);
        }

        foreach (var orphan in snapshot.Owners.Where(o => o.Value && !_owned.ContainsKey(o.Key)).Select(o => o.Key))
        {
            await locks.ReleaseAsync(orphan, cancellationToken); // handed over, but the release failed last time
        }

        var retired = _owned.Keys.Where(k => set.RoleOf(k) == PartitionRole.Gone).ToList();
        foreach (var partition in retired)
        {
            await HandOverAsync(partition, cancellationToken);
            await locks.ReleaseAsync(partition, cancellationToken);
        }

        var units = set.Keys.ToList();
        var share = snapshot.ShareOf(units.Count);
        var claimed = new List<int>();
        if (_owned.Count > share)
        {
            var extras = _owned.Keys.OrderBy(sequencers.IsBusy).ThenBy(_ => Random.Shared.Next()).Take(_owned.Count - share).ToList();
            await Task.WhenAll(extras.Select(p => HandOverAsync(p, cancellationToken)));
            foreach (var partition in extras)
            {
                await locks.ReleaseAsync(partition, cancellationToken);
            }

            await locks.AnnounceAsync(cancellationToken);
            LogOwned(snapshot.Workers, share, units.Count, $"handed over {Format(extras)}");
            return;
        }
        else if (_owned.Count < share)
        {
            foreach (var partition in units.Where(p => !snapshot.Owners.ContainsKey(p)).OrderBy(_ => Random.Shared.Next()))
            {
                if (_owned.Count >= share)
                {
                    break;
                }

                if (await locks.TryClaimAsync(partition, cancellationToken))
                {
                    _owned[partition] = new Owned();
                    claimed.Add(partition);
                    await pauses.ResumeAsync(partition, cancellationToken); // a pause its last owner left when it died is over
                }
            }
        }

        var started = await AdvanceAsync(set, cancellationToken);
        if (started.Count > 0)
        {
            try
            {
                await Task.WhenAll(started.Select(p => _owned[p].Endpoint!.Ready)).WaitAsync(ReadyTimeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                logger.LogWarning("Partitions {Partitions}: not consuming yet after {Timeout}; MassTransit keeps trying.", Format(started), ReadyTimeout);
            }
        }

        if (claimed.Count > 0 || retired.Count > 0)
        {
            LogOwned(snapshot.Workers, share, units.Count, claimed.Count > 0 ? $"took {Format(claimed)}" : $"let go of retired {Format(retired)}");
        }
        else if (renewed)
        {
            LogOwned(snapshot.Workers, share, units.Count, "lock session opened");
        }
    }

    /// <summary>
    /// Gives each owned partition what its role needs now: an endpoint to run it, nothing while it waits
    /// for the older layout's drain, a forwarder once drained; and drains an older partition found empty.
    /// Returns the partitions whose endpoints were started.
    /// </summary>
    private async Task<List<int>> AdvanceAsync(LayoutSet set, CancellationToken cancellationToken)
    {
        var started = new List<int>();
        var drained = false;
        foreach (var (partition, owned) in _owned.OrderBy(o => o.Key))
        {
            if (set.Find(partition) is not var (layout, index))
            {
                continue;
            }

            switch (set.RoleOf(partition))
            {
                case PartitionRole.Process when owned.Endpoint is null:
                    owned.Endpoint = endpoints.ConnectReceiveEndpoint(layout.Queue(index),
                        (context, endpoint) => PartitionEndpoint.Configure((IRabbitMqReceiveEndpointConfigurator)endpoint, layout.RoutingKey(index), context));
                    started.Add(partition);
                    if (layout != set.Current)
                    {
                        logger.LogInformation("Partition {Partition} ({Layout}): running its requests in place until its queue is empty, then forwarding to {Current}.", partition, layout, set.Current);
                    }

                    break;
                case PartitionRole.Process when layout != set.Current && await IsEmptyAsync(partition, layout.Queue(index), cancellationToken):
                    await DrainAsync(partition, owned, layout, index, set.Current, cancellationToken);
                    drained = true;
                    break;
                case PartitionRole.Forward when owned.Forwarder is null:
                    await StopEndpointAsync(partition, owned, cancellationToken); // drained by an earlier owner: nothing runs here any more
                    owned.Forwarder = forwarding.Start(layout, index, set.Current);
                    break;
            }
        }

        if (drained)
        {
            await locks.AnnounceAsync(cancellationToken); // the current partitions held back for these may start now, wherever they are owned
        }

        return started;
    }

    /// <summary>
    /// Whether everything that reached the partition's queue so far has run: nothing waits in the queue and
    /// nothing delivered here is running or waiting, twice, <see cref="EmptyRecheck"/> apart (a delivery on its
    /// way from the broker to the sequencer is seen by the second look). Whatever arrives after this point is
    /// forwarded, never run here, so it can only be from a producer still routing with the old count.
    /// </summary>
    private async Task<bool> IsEmptyAsync(int partition, string queue, CancellationToken cancellationToken)
    {
        for (var look = 0; look < 2; look++)
        {
            if (look > 0)
            {
                await Task.Delay(EmptyRecheck, cancellationToken);
            }

            if (sequencers.IsBusy(partition) || await forwarding.ReadyCountAsync(queue, cancellationToken) > 0 || sequencers.IsBusy(partition))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// An older layout's partition whose queue was found empty (<see cref="IsEmptyAsync"/>): its endpoint is
    /// handed over (whatever was delivered since the look goes back to the queue, in order), then the drain is
    /// recorded and a forwarder passes on, in order, whatever is or comes into the queue. Every request of the
    /// partition that ran in place has finished before the current layout's partitions for its KBs start.
    /// </summary>
    private async Task DrainAsync(int partition, Owned owned, PartitionLayout layout, int index, PartitionLayout current, CancellationToken cancellationToken)
    {
        await StopEndpointAsync(partition, owned, cancellationToken);
        await layouts.MarkDrainedAsync(layout, index, options.Value.WorkerId, cancellationToken);
        owned.Forwarder = forwarding.Start(layout, index, current);
        logger.LogInformation("Partition {Partition} ({Layout}): drained; forwarding what still arrives to {Current}.", partition, layout, current);
    }

    private async Task StopEndpointAsync(int partition, Owned owned, CancellationToken cancellationToken)
    {
        if (owned.Endpoint is { } endpoint)
        {
            await sequencers.HandOverAsync(partition, cancellationToken);
            await endpoint.StopAsync(cancellationToken);
            owned.Endpoint = null;
            sequencers.Forget(partition);
        }
    }

    /// <summary>The lock session was new: an earlier one broke and its locks are gone. Keep what can be locked again; hand over the rest.</summary>
    private async Task ReclaimAsync(CancellationToken cancellationToken)
    {
        foreach (var partition in _owned.Keys.ToList())
        {
            if (!await locks.TryClaimAsync(partition, cancellationToken))
            {
                logger.LogWarning("Partition {Partition} was taken by another worker while this one's lock session was down; handing it over.", partition);
                await HandOverAsync(partition, cancellationToken);
            }
        }
    }

    /// <summary>
    /// Lets the running run finish and closes the partition's channel, so the waiting requests go back to
    /// the queue in order, then stops the endpoint. Closing first, not cancelling the consumer first:
    /// on RabbitMQ 3.10 a cancel would make another worker subscribed to the queue (after a lost lock
    /// session, say) the active consumer while this one still holds requests, and those would come
    /// back behind later ones.
    /// </summary>
    private async Task HandOverAsync(int partition, CancellationToken cancellationToken)
    {
        var owned = _owned[partition];
        if (owned.Forwarder is { } forwarder)
        {
            await forwarder.DisposeAsync();
            owned.Forwarder = null;
        }

        await StopEndpointAsync(partition, owned, cancellationToken);
        _owned.TryRemove(partition, out _); // only now: a hand-over that failed half-way is tried again, and its lock kept meanwhile
    }

    /// <summary>Before MassTransit stops (registered after it, so this runs first): hand every partition over, then leave.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        if (ExecuteTask is { } loop)
        {
            await loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        try
        {
            logger.LogInformation("Stopping: handing over {Partitions}", Format(_owned.Keys));
            var handOvers = Task.WhenAll(_owned.Keys.ToList().Select(p => HandOverAsync(p, cancellationToken)));
            var patience = options.Value.StopTimeout;
            if (await Task.WhenAny(handOvers, Task.Delay(patience, cancellationToken)) != handOvers)
            {
                foreach (var partition in _owned.Keys.Order())
                {
                    logger.LogWarning("Stopping: partition {Partition} not handed over after {Patience} ({State}); cancelling its run, whose requests go back to the queue in order.",
                        partition, patience, sequencers.Describe(partition));
                    sequencers.Abort(partition);
                }
            }

            await handOvers;
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Stopping before every partition was handed over; the broker returns what is left when the connection closes.");
        }
        finally
        {
            await locks.DisposeAsync(); // frees every partition lock and announces nothing: the others notice at their next poll
        }
    }

    private async Task WaitForChangeAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + interval;
        while (!_stopping && DateTime.UtcNow < until)
        {
            if (await locks.WaitForChangeAsync(WaitSlice, cancellationToken))
            {
                return;
            }
        }
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + delay;
        while (!_stopping && DateTime.UtcNow < until)
        {
            await Task.Delay(WaitSlice, cancellationToken);
        }
    }

    private void LogOwned(int workers, int share, int partitions, string change) =>
        logger.LogInformation("Partitions: {Change}; owns {Count} ({Owned}), share {Share} of {Partitions} with {Workers} worker(s)",
            change, _owned.Count, Format(_owned.Keys), share, partitions, workers);

    /// <summary>What this worker runs for a partition it owns: an endpoint, a forwarder, or (held back) neither.</summary>
    private sealed class Owned
    {
        public HostReceiveEndpointHandle? Endpoint { get; set; }
        public PartitionForwarder? Forwarder { get; set; }
    }

    private static string Format(IEnumerable<int> partitions) => string.Join(",", partitions.Order());

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

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
/// </summary>
public sealed class PartitionOwnership(
    PartitionLocks locks,
    PartitionSequencers sequencers,
    PartitionPauses pauses,
    IReceiveEndpointConnector endpoints,
    IOptions<RabbitMqOptions> rabbit,
    IOptions<KbWorkerOptions> options,
    ILogger<PartitionOwnership> logger) : BackgroundService, IHostedLifecycleService
{
    private static readonly TimeSpan WaitSlice = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<int, HostReceiveEndpointHandle> _owned = new(); // hand-overs run side by side
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

        var snapshot = await locks.ReadAsync(cancellationToken);
        foreach (var orphan in snapshot.Owners.Where(o => o.Value && !_owned.ContainsKey(o.Key)).Select(o => o.Key))
        {
            await locks.ReleaseAsync(orphan, cancellationToken); // handed over, but the release failed last time
        }

        var partitions = rabbit.Value.Partitions;
        var share = snapshot.ShareOf(partitions);
        if (_owned.Count > share)
        {
            var extras = _owned.Keys.OrderBy(sequencers.IsBusy).ThenBy(_ => Random.Shared.Next()).Take(_owned.Count - share).ToList();
            await Task.WhenAll(extras.Select(p => HandOverAsync(p, cancellationToken)));
            foreach (var partition in extras)
            {
                await locks.ReleaseAsync(partition, cancellationToken);
            }

            await locks.AnnounceAsync(cancellationToken);
            LogOwned(snapshot.Workers, share, $"handed over {Format(extras)}");
            return;
        }
        else if (_owned.Count < share)
        {
            var claimed = new List<int>();
            foreach (var partition in Enumerable.Range(0, partitions).Where(p => !snapshot.Owners.ContainsKey(p)).OrderBy(_ => Random.Shared.Next()))
            {
                if (_owned.Count >= share)
                {
                    break;
                }

                if (await locks.TryClaimAsync(partition, cancellationToken))
                {
                    _owned[partition] = endpoints.ConnectReceiveEndpoint(Topology.PartitionQueue(partition),
                        (context, endpoint) => PartitionEndpoint.Configure((IRabbitMqReceiveEndpointConfigurator)endpoint, partition, context));
                    claimed.Add(partition);
                    await pauses.ResumeAsync(partition, cancellationToken); // a pause its last owner left when it died is over
                }
            }

            if (claimed.Count > 0)
            {
                try
                {
                    await Task.WhenAll(claimed.Select(p => _owned[p].Ready)).WaitAsync(ReadyTimeout, cancellationToken);
                }
                catch (TimeoutException)
                {
                    logger.LogWarning("Partitions {Partitions}: not consuming yet after {Timeout}; MassTransit keeps trying.", Format(claimed), ReadyTimeout);
                }

                LogOwned(snapshot.Workers, share, $"took {Format(claimed)}");
                return;
            }
        }

        if (renewed)
        {
            LogOwned(snapshot.Workers, share, "lock session opened");
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
        await sequencers.HandOverAsync(partition, cancellationToken);
        await _owned[partition].StopAsync(cancellationToken);
        _owned.TryRemove(partition, out _); // only now: a hand-over that failed half-way is tried again, and its lock kept meanwhile
        sequencers.Forget(partition);
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

    private void LogOwned(int workers, int share, string change) =>
        logger.LogInformation("Partitions: {Change}; owns {Count} ({Owned}), share {Share} of {Partitions} with {Workers} worker(s)",
            change, _owned.Count, Format(_owned.Keys), share, rabbit.Value.Partitions, workers);

    private static string Format(IEnumerable<int> partitions) => string.Join(",", partitions.Order());

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

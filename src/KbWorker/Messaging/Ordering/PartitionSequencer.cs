using System.Diagnostics;
using KbSync.Contracts;
using KbSync.KbWorker.Pipeline;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// Restores the delivery order of one partition queue and runs its requests in that order.
/// <para>
/// The broker delivers a partition's messages in order to its single active consumer, but
/// MassTransit hands up to <c>ConcurrentMessageLimit</c> of them to the consumer concurrently, so they
/// can arrive out of order (a batch collector closed by a timer would then reorder them). The
/// sequencer puts them back in delivery-tag order, then takes every request that is ready (up to
/// <see cref="KbWorkerOptions.MaxBatchSize"/>) as one run: each KB's share as one group (in order,
/// one lock, one fetch, one push), different KBs in parallel. The next run starts when this one is
/// done, so two requests of one KB never overlap. Each consumer call waits until its request's
/// outcome is recorded and published, so a message is acknowledged only then.
/// </para>
/// <para>
/// A delivery that ends without reaching the consumer (unreadable body, unknown type) is reported by
/// <see cref="DeliveryObserver"/>, so it leaves no gap. A gap that stays open longer than
/// the gap timeout (<see cref="KbWorkerOptions.DeliveryGapTimeout"/>) is logged and passed over rather than stalling the partition for ever.
/// </para>
/// <para>
/// When the channel closes, every request still waiting fails at once (<see cref="OnChannelShutdown"/>):
/// the broker has taken those messages back, and RabbitMQ.Client's close does not finish until every
/// consumer call on the channel has returned.
/// </para>
/// </summary>
public sealed class PartitionSequencer(
    int partition,
    int maxRun,
    Func<int, IReadOnlyList<KbRequest>, CancellationToken, Task<IReadOnlyList<PendingOperation>>> runAsync,
    ILogger logger,
    TimeSpan gapTimeout,
    Func<int, KbRequest, CancellationToken, Task<PendingOperation>>? runOutOfOrderAsync = null)
{
    private readonly object _gate = new();
    private readonly SortedDictionary<ulong, Entry> _arrived = new();
    private readonly HashSet<ulong> _passed = new();
    private readonly List<Entry> _late = new();
    private string? _consumerTag;
    private int _generation;
    private ulong _next = 1;
    private bool _running;
    private bool _halted;
    private bool _handingOver;
    private bool _released;
    private Timer? _gapTimer;
    private IChannel? _channel;
    private TaskCompletionSource _idle = NewIdle(done: true);
    private (int Requests, DateTimeOffset StartedAt) _run;
    private readonly CancellationTokenSource _abort = new();

    /// <summary>Queues a request at its place in the delivery order; completes with its outcome once recorded and published.</summary>
    /// <param name="channel">The channel it came on, closed by <see cref="HandOverAsync"/>.</param>
    public Task<PendingOperation> SubmitAsync(DeliveryKey key, KbRequest request, CancellationToken cancellationToken, IChannel? channel = null)
    {
        var entry = new Entry(request, cancellationToken);
        var outOfOrder = false;
        lock (_gate)
        {
            // Delivery tags start over on every channel, and MassTransit subscribes again with the same
            // consumer tag after a reconnect: a new channel is a new generation even when the tag is not.
            if (key.ConsumerTag != _consumerTag || (channel is not null && _channel is not null && channel != _channel))
            {
                StartGeneration(key.ConsumerTag);
            }

            if (channel is not null && channel != _channel)
            {
                _channel = channel;
                var generation = _generation;
                channel.ChannelShutdownAsync += (_, reason) => OnChannelShutdown(generation, reason);
                if (_released)
                {
                    // Handed over, and MassTransit subscribed again before its endpoint stopped: whatever
                    // this channel brings goes back to the queue, in order, when it closes.
                    _ = CloseQuietlyAsync(channel, CancellationToken.None);
                }
            }

            if (_halted)
            {
                entry.Cancel();
            }
            else if (runOutOfOrderAsync is not null && NeedsNoOrder(request))
            {
                // A read-only task changes nothing: it runs at once, beside the partition's writes, and leaves no gap.
                if (key.DeliveryTag >= _next)
                {
                    _passed.Add(key.DeliveryTag);
                    PumpLocked();
                }

                outOfOrder = true;
            }
            else if (key.DeliveryTag < _next ? TryAddLate(entry) : _arrived.TryAdd(key.DeliveryTag, entry))
            {
                PumpLocked();
            }
            else
            {
                entry.Cancel();
            }
        }

        return outOfOrder ? runOutOfOrderAsync!(partition, request, cancellationToken) : entry.Completion.Task;
    }

    /// <summary>A run is in progress or requests are waiting.</summary>
    public bool IsBusy
    {
        get
        {
            lock (_gate)
            {
                return _running || _arrived.Count > 0 || _late.Count > 0;
            }
        }
    }

    /// <summary>Read-only agent tasks need no place in the order.</summary>
    public static bool NeedsNoOrder(KbRequest request) => request.AgentTask is { ReadOnly: true } && request.Note is null;

    /// <summary>A delivery that ended without reaching the consumer: it will never arrive, so it must not leave a gap.</summary>
    public void Pass(DeliveryKey key)
    {
        lock (_gate)
        {
            if (key.ConsumerTag == _consumerTag && key.DeliveryTag >= _next && !_arrived.ContainsKey(key.DeliveryTag))
            {
                _passed.Add(key.DeliveryTag);
                PumpLocked();
            }
        }
    }

    /// <summary>
    /// A new consumer tag or a new channel (a reconnect, or this worker taking over the partition)
    /// starts the delivery tags at 1 again. Messages of the old channel can no longer be acknowledged; the broker
    /// redelivers them on the new one, in order.
    /// </summary>
    private void StartGeneration(string consumerTag)
    {
        logger.LogDebug("Partition {Partition}: new consumer {ConsumerTag}; {Waiting} request(s) waiting from the old one go back to the queue", partition, consumerTag, _arrived.Count);
        GiveBackWaiting();
        _passed.Clear();
        _consumerTag = consumerTag;
        _generation++;
        _next = 1;
        _running = false;
        _idle.TrySetResult();
        _idle = NewIdle(done: true);
        _halted = false;
    }

    /// <summary>A delivery that arrives after the gap timeout passed it over: it still runs, first in the next run.</summary>
    private bool TryAddLate(Entry entry)
    {
        logger.LogWarning("Partition {Partition}: a delivery arrived after its turn was passed over; it runs now, out of order.", partition);
        _late.Add(entry);
        return true;
    }

    private void PumpLocked()
    {
        if (_running || _halted || _handingOver)
        {
            return;
        }

        var run = new List<Entry>(_late);
        _late.Clear();
        while (run.Count < maxRun)
        {
            if (_passed.Remove(_next))
            {
                _next++;
            }
            else if (_arrived.Remove(_next, out var entry))
            {
                _next++;
                if (entry.CancellationToken.IsCancellationRequested)
                {
                    // Stopping: nothing after a message that goes back to the queue may run, or order would break.
                    // What this run had taken already goes back too: it is no longer waiting, and would be left so for ever.
                    foreach (var taken in run)
                    {
                        taken.Cancel();
                    }

                    Halt(entry);
                    return;
                }

                run.Add(entry);
            }
            else
            {
                break;
            }
        }

        if (run.Count == 0)
        {
            WatchForGapLocked();
            return;
        }

        _running = true;
        _run = (run.Count, DateTimeOffset.UtcNow);
        logger.LogDebug("Partition {Partition}: run of {Count} request(s) starts, up to delivery {Tag}", partition, run.Count, _next - 1);
        _idle = NewIdle(done: false);
        var generation = _generation;
        _ = Task.Run(() => RunAsync(generation, run));
    }

    private async Task RunAsync(int generation, List<Entry> run)
    {
        var elapsed = Stopwatch.StartNew();
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(run.Select(e => e.CancellationToken).Append(_abort.Token).ToArray());
        try
        {
            var operations = await runAsync(partition, run.Select(e => e.Request).ToList(), cancellation.Token);
            for (var i = 0; i < run.Count; i++)
            {
                run[i].Completion.TrySetResult(operations[i]);
            }
        }
        catch (Exception error)
        {
            // runAsync retries failures itself; what escapes is a stop. Nothing after this run may go
            // on before these messages come back from the queue.
            foreach (var entry in run)
            {
                // A stop's cancellation goes up as it is. Anything else, an abort included, is a give-back, and
                // never with a cancellation inside: MassTransit turns any exception whose base is one into its
                // own ConsumerCanceledException, which would lose the give-back.
                entry.Completion.TrySetException(error is OperationCanceledException && !_abort.IsCancellationRequested
                    ? error
                    : new ReturnToQueueException(error is OperationCanceledException ? null : error));
            }

            lock (_gate)
            {
                if (generation == _generation)
                {
                    Halt(null);
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                logger.LogDebug("Partition {Partition}: run of {Count} request(s) ends after {Elapsed:0} ms", partition, run.Count, elapsed.Elapsed.TotalMilliseconds);
                if (generation == _generation)
                {
                    _running = false;
                    _idle.TrySetResult();
                    PumpLocked();
                }
            }
        }
    }

    /// <summary>
    /// Cancels the running run (a stop that cannot wait longer): its requests are not acknowledged, so
    /// the broker gives them to the next owner, in order, and a request found on the remote already is
    /// not committed twice.
    /// </summary>
    public void Abort() => _abort.Cancel();

    /// <summary>What the partition is doing, for the log at a stop.</summary>
    public string Describe()
    {
        lock (_gate)
        {
            var run = _running ? $"a run of {_run.Requests} in progress for {(DateTimeOffset.UtcNow - _run.StartedAt).TotalSeconds:0.0} s" : "no run in progress";
            return $"{run}, {_arrived.Count + _late.Count} request(s) waiting";
        }
    }

    /// <summary>
    /// Gives the partition to the next worker without reordering it: no new run starts, the running
    /// one finishes, then the channel is closed. Closing (rather than cancelling the consumer) makes
    /// RabbitMQ return every unacknowledged message to the queue in order before it activates the
    /// next consumer; a cancel would activate it first, and messages delivered but not yet handed to
    /// this consumer would come back behind later ones (should another worker be subscribed too). The
    /// requests still waiting here fail when the broker confirms the close (<see cref="OnChannelShutdown"/>),
    /// which is what lets the close finish. The caller then stops the endpoint; a channel MassTransit
    /// opens again before that is closed at once, so nothing more runs here.
    /// </summary>
    public async Task HandOverAsync(CancellationToken cancellationToken)
    {
        Task running;
        IChannel? channel;
        int generation;
        lock (_gate)
        {
            _handingOver = true; // deliveries still queue up here (a give-back now would be redelivered at once), but no new run starts
            running = _idle.Task;
            channel = _channel;
            generation = _generation;
            logger.LogInformation("Partition {Partition}: hand-over begins: {Run}, {Waiting} request(s) waiting (next delivery {Next}), channel open {Open}",
                partition, _running ? $"a run of {_run.Requests} in progress for {(DateTimeOffset.UtcNow - _run.StartedAt).TotalSeconds:0.0} s" : "no run in progress",
                _arrived.Count + _late.Count, _next, channel?.IsOpen);
        }

        await running.WaitAsync(cancellationToken);
        await Task.Delay(AckGrace, cancellationToken); // let the finished run's acknowledgements go out first
        if (channel is { IsOpen: true })
        {
            logger.LogInformation("Partition {Partition}: handing over (closing its channel, so waiting requests return to the queue in order)", partition);
            await CloseQuietlyAsync(channel, cancellationToken);
        }

        lock (_gate)
        {
            _released = true;
            if (generation == _generation)
            {
                Halt(null);
            }
            else if (_channel is { } later && later != channel)
            {
                _ = CloseQuietlyAsync(later, CancellationToken.None); // MassTransit subscribed again meanwhile
            }
        }

        logger.LogInformation("Partition {Partition}: handed over", partition);
    }

    /// <summary>
    /// The channel is gone (handed over, or the connection dropped): the broker has put every
    /// unacknowledged message back in the queue, in order, so the requests waiting here can never be
    /// acknowledged and must not run. They fail now rather than when the next consumer tag shows up:
    /// RabbitMQ.Client (7.x) finishes a channel close, and the connection reads nothing more, only once
    /// every consumer call on that channel has returned, and ours wait here.
    /// </summary>
    private Task OnChannelShutdown(int generation, ShutdownEventArgs reason)
    {
        lock (_gate)
        {
            if (generation == _generation && !_halted)
            {
                logger.LogInformation("Partition {Partition}: channel closed ({Reason}); {Waiting} waiting request(s) go back to the queue", partition, reason.ReplyText, _arrived.Count + _late.Count);
                Halt(null);
            }
        }

        return Task.CompletedTask;
    }

    private static readonly TimeSpan AckGrace = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Closes the channel, so the broker returns its unacknowledged messages to the queue, in order.
    /// RabbitMQ.Client finishes a close only once every consumer call on the channel has returned; one
    /// that does not (a message still in MassTransit's error pipe, say) would hold the hand-over for ever,
    /// so past <see cref="CloseTimeout"/> the channel is aborted, which returns the messages the same way.
    /// </summary>
    private static async Task CloseQuietlyAsync(IChannel channel, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CloseTimeout);
        try
        {
            await channel.CloseAsync(Constants.ReplySuccess, "KbSync worker hands the partition over", timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await channel.AbortAsync(CancellationToken.None);
        }
        catch (Exception error) when (error is ObjectDisposedException or RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            // closed meanwhile (the connection dropped): the broker has returned the messages already
        }
    }

    private static TaskCompletionSource NewIdle(bool done)
    {
        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (done)
        {
            idle.SetResult();
        }

        return idle;
    }

    /// <summary>Fails everything still waiting: those messages return to the queue and come back in order.</summary>
    private void Halt(Entry? first)
    {
        _halted = true;
        first?.Cancel();
        GiveBackWaiting();
    }

    private void GiveBackWaiting()
    {
        foreach (var entry in _arrived.Values.Concat(_late))
        {
            entry.Cancel();
        }

        _arrived.Clear();
        _late.Clear();
    }

    private void WatchForGapLocked()
    {
        if (_arrived.Count == 0 || _gapTimer is not null)
        {
            return;
        }

        var (generation, waitingFor) = (_generation, _next);
        _gapTimer = new Timer(_ =>
        {
            lock (_gate)
            {
                _gapTimer?.Dispose();
                _gapTimer = null;
                if (generation == _generation && _next == waitingFor && !_running && _arrived.Count > 0)
                {
                    var first = _arrived.Keys.First();
                    logger.LogWarning("Partition {Partition}: deliveries {From} to {To} never reached the consumer within {Timeout}; going on with {Next}.", partition, _next, first - 1, gapTimeout, first);
                    _next = first;
                }

                PumpLocked();
            }
        }, null, gapTimeout, Timeout.InfiniteTimeSpan);
    }

    private sealed class Entry(KbRequest request, CancellationToken cancellationToken)
    {
        public KbRequest Request { get; } = request;
        public CancellationToken CancellationToken { get; } = cancellationToken;
        public TaskCompletionSource<PendingOperation> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Cancel() => Completion.TrySetException(new ReturnToQueueException(null));
    }
}

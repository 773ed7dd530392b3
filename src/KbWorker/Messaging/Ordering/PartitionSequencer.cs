using System.Diagnostics;
using System.Runtime.CompilerServices;
using KbSync.Contracts;
using KbSync.KbWorker.Pipeline;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>
/// Restores the delivery order of one partition queue and runs its requests in that order.
/// <para>
/// The broker delivers a partition's messages in order to its single active consumer, but
/// MassTransit hands up to <c>ConcurrentMessageLimit</c> of them to the consumer concurrently, so they
/// can arrive out of order (a batch collector closed by a timer would then reorder them). The
/// sequencer puts them back in delivery-tag order (<see cref="DeliveryOrder{T}"/>) and moves each
/// request whose turn has come to its KB's lane (<see cref="KbLanes{T}"/>). A lane runs its requests
/// as groups of up to <see cref="KbWorkerOptions.MaxBatchSize"/> (in order, one lock, one fetch, one
/// push), one group at a time, so two requests of one KB never overlap and each KB keeps its order;
/// different KBs' groups run in parallel (at most <see cref="KbWorkerOptions.MaxGroupsPerPartition"/>),
/// and a KB whose group ended starts its next one while other KBs' groups still run. So a quiet KB's
/// request starts as soon as it has been delivered, whatever a busy KB of the partition has queued
/// before it: it waits only for the busy KB's requests ahead of it beyond the lookahead
/// (<see cref="KbWorkerOptions.PartitionLookahead"/>, the prefetch), which the broker has not delivered
/// yet. Each consumer call waits until its request's outcome is recorded and published, so a message is
/// acknowledged only then.
/// </para>
/// <para>
/// What it does with a delivery depends on its <see cref="SequencerState"/>, which changes in one place
/// (<see cref="Move"/>), under its lock. A delivery that ends without reaching the consumer (unreadable
/// body, unknown type) is reported by <see cref="DeliveryObserver"/>, so it leaves no gap. A gap that
/// stays open longer than the gap timeout (<see cref="KbWorkerOptions.DeliveryGapTimeout"/>) is logged
/// and passed over rather than stalling the partition for ever.
/// </para>
/// <para>
/// When the channel closes, every request still waiting fails at once (<see cref="OnChannelShutdown"/>):
/// the broker has taken those messages back, and RabbitMQ.Client's close does not finish until every
/// consumer call on the channel has returned. <see cref="ChannelHandOver"/> gives the partition to the
/// next worker through <see cref="BeginHandOver"/> and <see cref="FinishHandOver"/>.
/// </para>
/// </summary>
public sealed class PartitionSequencer(
    int partition,
    int maxRun,
    int maxGroups,
    Func<int, IReadOnlyList<KbRequest>, CancellationToken, Task<IReadOnlyList<PendingOperation>>> runAsync,
    ILogger logger,
    TimeSpan gapTimeout,
    Func<int, KbRequest, CancellationToken, Task<PendingOperation>>? runOutOfOrderAsync = null) : IDisposable
{
    private readonly object _gate = new();
    private readonly DeliveryOrder<Entry> _order = new();
    private KbLanes<Entry> _lanes = new(Math.Max(1, maxRun), Math.Max(1, maxGroups));
    private readonly CancellationTokenSource _abort = new();
    private readonly ConditionalWeakTable<IChannel, object> _retired = new();
    private SequencerState _state = SequencerState.Initial;
    private Source _source = new(0, null);
    private Timer? _gapTimer;

    public int Partition => partition;

    /// <summary>The state now (it may change as soon as it is read).</summary>
    public SequencerState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>Queues a request at its place in its channel's delivery order; completes with its outcome once recorded and published.</summary>
    public Task<PendingOperation> SubmitAsync(DeliveryKey key, KbRequest request, CancellationToken cancellationToken)
    {
        var entry = new Entry(request, cancellationToken);
        var outOfOrder = false;
        lock (_gate)
        {
            if (!Follow(key.Channel) || _state.GivesBack)
            {
                entry.Cancel();
            }
            else if (runOutOfOrderAsync is not null && NeedsNoOrder(request))
            {
                // A read-only task changes nothing: it runs at once, beside the partition's writes, and leaves no gap.
                if (_order.Pass(key.DeliveryTag))
                {
                    PumpLocked();
                }

                outOfOrder = true;
            }
            else if (key.DeliveryTag < _order.Next)
            {
                logger.LogWarning("Partition {Partition}: a delivery arrived after its turn was passed over; it runs now, out of order.", partition);
                _order.AddLate(entry);
                PumpLocked();
            }
            else if (_order.TryAdd(key.DeliveryTag, entry))
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

    /// <summary>A group is running or requests are waiting.</summary>
    public bool IsBusy
    {
        get
        {
            lock (_gate)
            {
                return _state.Run is not null || Waiting > 0;
            }
        }
    }

    /// <summary>Requests waiting: for their turn, or in their KB's lane behind its running group.</summary>
    private int Waiting => _order.Waiting + _lanes.Waiting;

    /// <summary>Read-only agent tasks need no place in the order.</summary>
    public static bool NeedsNoOrder(KbRequest request) => request.AgentTask is { ReadOnly: true } && request.Note is null;

    /// <summary>A delivery that ended without reaching the consumer: it will never arrive, so it must not leave a gap.</summary>
    public void Pass(DeliveryKey key)
    {
        lock (_gate)
        {
            if (Follow(key.Channel) && _order.Pass(key.DeliveryTag))
            {
                PumpLocked();
            }
        }
    }

    /// <summary>
    /// Cancels the running groups (a stop that cannot wait longer): its requests are not acknowledged, so
    /// the broker gives them to the next owner, in order, and a request found on the remote already is
    /// not committed twice.
    /// </summary>
    public void Abort() => _abort.Cancel();

    /// <summary>When the worker's services are disposed, after its stop: the gap timer and the abort token.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _gapTimer?.Dispose();
            _gapTimer = null;
        }

        _abort.Dispose();
    }

    /// <summary>What the partition is doing, for the log at a stop.</summary>
    public string Describe()
    {
        lock (_gate)
        {
            return $"{DescribeRun()}, {Waiting} request(s) waiting";
        }
    }

    /// <summary>
    /// The hand-over begins (<see cref="ChannelHandOver"/>): no new group starts; deliveries still queue up.
    /// Returns what to wait for (the running groups) and the channel to close after them.
    /// </summary>
    public HandOverStart BeginHandOver()
    {
        lock (_gate)
        {
            Move(_state.BeginHandOver());
            var channel = _source.Channel;
            logger.LogInformation("Partition {Partition}: hand-over begins: {Run}, {Waiting} request(s) waiting (next delivery {Next}), channel open {Open}",
                partition, DescribeRun(), Waiting, _order.Next, channel?.IsOpen);
            return new HandOverStart(_state.Run?.Released ?? Task.CompletedTask, channel, _source.Generation);
        }
    }

    /// <summary>
    /// The channel <paramref name="start"/> named is closed: whatever waits on it goes back to the queue, and
    /// from now on any new channel is closed at once. Should MassTransit have subscribed again meanwhile, on
    /// another channel, that one is closed now, and what it brought goes back when it closes.
    /// </summary>
    public void FinishHandOver(HandOverStart start)
    {
        lock (_gate)
        {
            Move(_state.FinishHandOver());
            if (start.Generation == _source.Generation)
            {
                Halt();
            }
            else if (_source.Channel is { } later && later != start.Channel)
            {
                _ = ChannelHandOver.CloseAsync(later, CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// The one place the state changes. A run the new state no longer holds is released, so a hand-over
    /// waiting for it goes on.
    /// </summary>
    private void Move(SequencerState next)
    {
        if (_state.Run is { } run && next.Run != run)
        {
            run.Release();
        }

        if (next.Channel != _state.Channel || next.HandOver != _state.HandOver)
        {
            logger.LogDebug("Partition {Partition}: {FromChannel}/{FromStage} -> {ToChannel}/{ToStage}", partition, _state.Channel, _state.HandOver, next.Channel, next.HandOver);
        }

        _state = next;
    }

    /// <summary>
    /// Delivery tags are numbered per channel: a delivery on a channel not seen before (a reconnect, or
    /// this worker taking the partition again) starts the order over at 1. False for a channel already
    /// left behind: what it still brings can no longer be acknowledged, and goes back to the queue.
    /// </summary>
    private bool Follow(IChannel channel)
    {
        if (channel == _source.Channel)
        {
            return true;
        }

        if (_retired.TryGetValue(channel, out _))
        {
            return false;
        }

        if (_source.Channel is { } previous)
        {
            _retired.AddOrUpdate(previous, previous);
        }

        StartOver(channel);
        var generation = _source.Generation;
        channel.ChannelShutdownAsync += (_, reason) => OnChannelShutdown(generation, reason);
        if (_state.ClosesNewChannels)
        {
            // Handed over, and MassTransit subscribed again before its endpoint stopped: whatever
            // this channel brings goes back to the queue, in order, when it closes.
            _ = ChannelHandOver.CloseAsync(channel, CancellationToken.None);
        }

        return true;
    }

    /// <summary>
    /// A new channel starts the delivery tags at 1 again. Messages of the old channel can no longer be
    /// acknowledged; the broker redelivers them on the new one, in order.
    /// </summary>
    private void StartOver(IChannel channel)
    {
        logger.LogDebug("Partition {Partition}: new channel {Channel}; {Waiting} request(s) waiting from the old one go back to the queue", partition, channel.ChannelNumber, Waiting);
        GiveBack(_order.StartOver());
        GiveBack(_lanes.TakeAll());
        _lanes = new KbLanes<Entry>(Math.Max(1, maxRun), Math.Max(1, maxGroups)); // the old channel's groups, still running, are no longer counted
        _source = new Source(_source.Generation + 1, channel);
        Move(_state.StartOver());
    }

    private void PumpLocked()
    {
        if (!_state.MayStartGroup)
        {
            return;
        }

        // every request whose turn has come goes to its KB's lane at once, so the next delivery's turn comes too
        var taken = _order.TakeReady(int.MaxValue, entry => entry.CancellationToken.IsCancellationRequested, out var cancelled);
        if (cancelled is not null)
        {
            // Stopping: nothing after a message that goes back to the queue may run, or order would break.
            // What was taken already goes back too: it is no longer waiting, and would be left so for ever.
            GiveBack(taken);
            cancelled.Cancel();
            Halt();
            return;
        }

        foreach (var entry in taken)
        {
            _lanes.Add(entry.Request.KbId ?? "", entry);
        }

        var startable = _lanes.TakeStartable();
        if (startable.Any(s => s.Group.Any(e => e.CancellationToken.IsCancellationRequested)))
        {
            // stopping: these groups and everything waiting go back, in order
            foreach (var (kb, group) in startable)
            {
                _lanes.End(kb);
                GiveBack(group);
            }

            Halt();
            return;
        }

        foreach (var (kb, group) in startable)
        {
            StartGroup(kb, group);
        }

        WatchForGapLocked();
    }

    private void StartGroup(string kb, List<Entry> group)
    {
        var run = _state.Run ?? new PartitionRun(DateTimeOffset.UtcNow);
        Move(_state.StartGroup(run));
        run.GroupStarted(group.Count);
        logger.LogDebug("Partition {Partition}: a group of {Count} request(s) of KB {KbId} starts ({Groups} running, up to delivery {Tag})", partition, group.Count, kb, run.Groups, _order.Next - 1);
        var lanes = _lanes;
        _ = Task.Run(() => RunGroupAsync(run, lanes, kb, group));
    }

    private async Task RunGroupAsync(PartitionRun run, KbLanes<Entry> lanes, string kb, List<Entry> entries)
    {
        var elapsed = Stopwatch.StartNew();
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(entries.Select(e => e.CancellationToken).Append(_abort.Token).ToArray());
        try
        {
            var operations = await runAsync(partition, entries.Select(e => e.Request).ToList(), cancellation.Token);
            for (var i = 0; i < entries.Count; i++)
            {
                entries[i].Completion.TrySetResult(operations[i]);
            }
        }
        catch (Exception error)
        {
            // runAsync retries failures itself; what escapes is a stop. Nothing after this group may go
            // on before these messages come back from the queue.
            foreach (var entry in entries)
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
                if (_state.Run == run)
                {
                    Halt();
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                logger.LogDebug("Partition {Partition}: a group of {Count} request(s) of KB {KbId} ends after {Elapsed:0} ms", partition, entries.Count, kb, elapsed.Elapsed.TotalMilliseconds);
                lanes.End(kb);
                if (run.GroupEnded(entries.Count) && _state.Run == run)
                {
                    Move(_state.EndRun(run));
                }

                PumpLocked();
            }
        }
    }

    /// <summary>
    /// The channel is gone (handed over, or the connection dropped): the broker has put every
    /// unacknowledged message back in the queue, in order, so the requests waiting here can never be
    /// acknowledged and must not run. They fail now rather than when the next channel shows up:
    /// RabbitMQ.Client (7.x) finishes a channel close, and the connection reads nothing more, only once
    /// every consumer call on that channel has returned, and ours wait here.
    /// </summary>
    private Task OnChannelShutdown(int generation, ShutdownEventArgs reason)
    {
        lock (_gate)
        {
            if (generation == _source.Generation && !_state.GivesBack)
            {
                logger.LogInformation("Partition {Partition}: channel closed ({Reason}); {Waiting} waiting request(s) go back to the queue", partition, reason.ReplyText, Waiting);
                Halt();
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Fails everything still waiting, and every later delivery of this channel: those messages return to the queue and come back in order.</summary>
    private void Halt()
    {
        Move(_state.Halt());
        GiveBack(_order.TakeAll());
        GiveBack(_lanes.TakeAll());
    }

    private static void GiveBack(IEnumerable<Entry> entries)
    {
        foreach (var entry in entries)
        {
            entry.Cancel();
        }
    }

    private string DescribeRun() => _state.Run?.Describe(DateTimeOffset.UtcNow) ?? "no run in progress";

    private void WatchForGapLocked()
    {
        if (_order.FirstAhead is null || _gapTimer is not null)
        {
            return;
        }

        var (generation, waitingFor) = (_source.Generation, _order.Next);
        _gapTimer = new Timer(_ =>
        {
            lock (_gate)
            {
                _gapTimer?.Dispose();
                _gapTimer = null;
                // while serving, requests whose turn came leave for their lanes at once: Next stuck this long is a gap, whatever runs meanwhile
                if (generation == _source.Generation && _order.Next == waitingFor && _state.MayStartGroup && _order.FirstAhead is { } first)
                {
                    logger.LogWarning("Partition {Partition}: deliveries {From} to {To} never reached the consumer within {Timeout}; going on with {Next}.", partition, _order.Next, first - 1, gapTimeout, first);
                    _order.SkipTo(first);
                }

                PumpLocked();
            }
        }, null, gapTimeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The channel whose delivery tags are being ordered: each new one is a new generation.</summary>
    private sealed record Source(int Generation, IChannel? Channel);

    private sealed class Entry(KbRequest request, CancellationToken cancellationToken)
    {
        public KbRequest Request { get; } = request;
        public CancellationToken CancellationToken { get; } = cancellationToken;
        public TaskCompletionSource<PendingOperation> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Cancel() => Completion.TrySetException(new ReturnToQueueException(null));
    }
}

namespace KbSync.KbWorker.Messaging.Ordering;

/// <summary>What becomes of the current channel's deliveries (a new channel starts at <see cref="Ordering"/> again).</summary>
public enum ChannelState
{
    /// <summary>They wait for their turn and run in delivery order, each KB's one group after the other.</summary>
    Ordering,

    /// <summary>
    /// Nothing more of this channel runs: the partition is stopping, a run was cut short, or the channel
    /// closed. What waited was given back, and so is every later delivery, so that nothing runs ahead
    /// of a message the broker will deliver again.
    /// </summary>
    Halted,
}

/// <summary>How far the partition is in being given to the next worker (<see cref="ChannelHandOver"/>).</summary>
public enum HandOverStage
{
    /// <summary>This worker serves the partition: groups start as requests become ready.</summary>
    Serving,

    /// <summary>
    /// No new group starts; deliveries still queue up (a give-back now would be redelivered here at
    /// once); the running groups finish, then the channel closes.
    /// </summary>
    HandingOver,

    /// <summary>The channel was closed: one MassTransit opens again before its endpoint stops is closed at once.</summary>
    HandedOver,
}

/// <summary>
/// Everything a <see cref="PartitionSequencer"/> does with a delivery depends on, besides the order
/// itself: the current channel's <see cref="ChannelState"/>, the <see cref="HandOverStage"/>, and the
/// work in progress on this channel (its KB groups running), if any. Immutable: each transition below
/// returns the next state, refusing one that is not allowed, and the sequencer changes its state in one
/// place, under its lock.
/// <code>
///          StartGroup(Run)                      BeginHandOver            FinishHandOver
///   no run ─────────────► Run ──┐     Serving ────────────────► HandingOver ────────────► HandedOver
///      ▲  EndRun(Run), when its │        (both repeatable: a hand-over that failed half-way is tried again)
///      └── last group ended ────┘    StartGroup(Run) again: another KB's group joins the run in progress
///   Ordering ── Halt ──► Halted ── StartOver (a new channel; drops the old channel's run) ──► Ordering
/// </code>
/// </summary>
public readonly record struct SequencerState(ChannelState Channel, HandOverStage HandOver, PartitionRun? Run)
{
    public static SequencerState Initial { get; } = new(ChannelState.Ordering, HandOverStage.Serving, null);

    /// <summary>A KB group may start: the channel's deliveries are in order and the partition is not being handed over.</summary>
    public bool MayStartGroup => Channel == ChannelState.Ordering && HandOver == HandOverStage.Serving;

    /// <summary>Deliveries go back to the queue as they arrive.</summary>
    public bool GivesBack => Channel == ChannelState.Halted;

    /// <summary>A channel that shows up now is closed at once.</summary>
    public bool ClosesNewChannels => HandOver == HandOverStage.HandedOver;

    /// <summary>A KB group starts: it begins <paramref name="run"/> when nothing runs, or joins it when it is the run in progress.</summary>
    public SequencerState StartGroup(PartitionRun run) =>
        MayStartGroup && (Run is null || Run == run)
            ? this with { Run = run }
            : throw Refused($"start a group (channel {Channel}, {HandOver}, {(Run is null ? "no run" : Run == run ? "this run" : "another run")} in progress)");

    /// <summary>A run's last group ended; one of an earlier channel (dropped by <see cref="StartOver"/>) changes nothing.</summary>
    public SequencerState EndRun(PartitionRun run) => Run == run ? this with { Run = null } : this;

    /// <summary>Nothing more of this channel runs; a run in progress finishes (or is cancelled) on its own.</summary>
    public SequencerState Halt() => this with { Channel = ChannelState.Halted };

    /// <summary>
    /// A new channel: delivery tags start at 1 again and its deliveries are ordered. The old
    /// channel's run, if one is still going, is no longer waited for: its messages can no longer be acknowledged.
    /// </summary>
    public SequencerState StartOver() => this with { Channel = ChannelState.Ordering, Run = null };

    /// <summary>The hand-over begins; begun again (a retry) it stays where it is.</summary>
    public SequencerState BeginHandOver() => HandOver == HandOverStage.Serving ? this with { HandOver = HandOverStage.HandingOver } : this;

    public SequencerState FinishHandOver() =>
        HandOver != HandOverStage.Serving ? this with { HandOver = HandOverStage.HandedOver } : throw Refused("finish a hand-over that has not begun");

    private static InvalidOperationException Refused(string what) => new($"A partition sequencer cannot {what}.");
}

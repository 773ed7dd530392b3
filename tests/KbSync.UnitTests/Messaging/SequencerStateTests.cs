using KbSync.KbWorker.Messaging.Ordering;

namespace KbSync.UnitTests.Messaging;

/// <summary>The sequencer's transitions: which are allowed, and what each leaves behind.</summary>
public sealed class SequencerStateTests
{
    private static PartitionRun NewRun() => new(1, DateTimeOffset.UtcNow);

    [Fact]
    public void A_serving_partition_in_order_with_no_run_starts_one_and_may_start_the_next_only_once_it_ends()
    {
        var run = NewRun();

        var running = SequencerState.Initial.StartRun(run);

        Assert.Same(run, running.Run);
        Assert.False(running.MayStartRun);
        Assert.Throws<InvalidOperationException>(() => running.StartRun(NewRun()));
        Assert.Equal(SequencerState.Initial, running.EndRun(run));
        Assert.True(running.EndRun(run).MayStartRun);
    }

    [Fact]
    public void A_halted_channel_gives_back_and_starts_no_run_until_a_new_channel_starts_over()
    {
        var run = NewRun();
        var halted = SequencerState.Initial.StartRun(run).Halt();

        Assert.True(halted.GivesBack);
        Assert.Same(run, halted.Run); // a run in progress finishes on its own
        Assert.Throws<InvalidOperationException>(() => halted.EndRun(run).StartRun(NewRun()));

        var fresh = halted.StartOver();

        Assert.Equal(ChannelState.Ordering, fresh.Channel);
        Assert.Null(fresh.Run); // the old channel's run is no longer waited for
        Assert.True(fresh.MayStartRun);
    }

    [Fact]
    public void The_end_of_a_run_from_an_earlier_channel_changes_nothing()
    {
        var old = NewRun();
        var current = NewRun();
        var state = SequencerState.Initial.StartRun(old).StartOver().StartRun(current);

        Assert.Equal(state, state.EndRun(old));
        Assert.Same(current, state.EndRun(old).Run);
    }

    [Fact]
    public void A_hand_over_stops_new_runs_and_once_finished_closes_new_channels_even_after_starting_over()
    {
        var run = NewRun();
        var handingOver = SequencerState.Initial.StartRun(run).BeginHandOver();

        Assert.Equal(HandOverStage.HandingOver, handingOver.HandOver);
        Assert.False(handingOver.GivesBack); // deliveries still queue up
        Assert.False(handingOver.ClosesNewChannels);
        Assert.Throws<InvalidOperationException>(() => handingOver.EndRun(run).StartRun(NewRun()));

        var handedOver = handingOver.EndRun(run).FinishHandOver();

        Assert.True(handedOver.ClosesNewChannels);
        Assert.True(handedOver.StartOver().ClosesNewChannels);
        Assert.False(handedOver.StartOver().MayStartRun);
    }

    [Fact]
    public void A_hand_over_tried_again_keeps_its_stage_and_one_never_begun_cannot_finish()
    {
        var handingOver = SequencerState.Initial.BeginHandOver();
        var handedOver = handingOver.FinishHandOver();

        Assert.Equal(handingOver, handingOver.BeginHandOver());
        Assert.Equal(handedOver, handedOver.BeginHandOver());
        Assert.Equal(handedOver, handedOver.FinishHandOver());
        Assert.Throws<InvalidOperationException>(() => SequencerState.Initial.FinishHandOver());
    }
}

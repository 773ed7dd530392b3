using KbSync.KbWorker.Messaging.Ordering;

namespace KbSync.UnitTests.Messaging;

/// <summary>The sequencer's transitions: which are allowed, and what each leaves behind.</summary>
public sealed class SequencerStateTests
{
    private static PartitionRun NewRun() => new(DateTimeOffset.UtcNow);

    [Fact]
    public void A_serving_partition_in_order_starts_a_run_with_its_first_group_and_other_groups_join_it_until_it_ends()
    {
        var run = NewRun();

        var running = SequencerState.Initial.StartGroup(run);

        Assert.Same(run, running.Run);
        Assert.True(running.MayStartGroup); // another KB's group may start beside it
        Assert.Equal(running, running.StartGroup(run));
        Assert.Throws<InvalidOperationException>(() => running.StartGroup(NewRun()));
        Assert.Equal(SequencerState.Initial, running.EndRun(run));
    }

    [Fact]
    public void A_halted_channel_gives_back_and_starts_no_group_until_a_new_channel_starts_over()
    {
        var run = NewRun();
        var halted = SequencerState.Initial.StartGroup(run).Halt();

        Assert.True(halted.GivesBack);
        Assert.Same(run, halted.Run); // running groups finish on their own
        Assert.False(halted.MayStartGroup);
        Assert.Throws<InvalidOperationException>(() => halted.StartGroup(run));
        Assert.Throws<InvalidOperationException>(() => halted.EndRun(run).StartGroup(NewRun()));

        var fresh = halted.StartOver();

        Assert.Equal(ChannelState.Ordering, fresh.Channel);
        Assert.Null(fresh.Run); // the old channel's run is no longer waited for
        Assert.True(fresh.MayStartGroup);
    }

    [Fact]
    public void The_end_of_a_run_from_an_earlier_channel_changes_nothing()
    {
        var old = NewRun();
        var current = NewRun();
        var state = SequencerState.Initial.StartGroup(old).StartOver().StartGroup(current);

        Assert.Equal(state, state.EndRun(old));
        Assert.Same(current, state.EndRun(old).Run);
    }

    [Fact]
    public void A_hand_over_stops_new_groups_and_once_finished_closes_new_channels_even_after_starting_over()
    {
        var run = NewRun();
        var handingOver = SequencerState.Initial.StartGroup(run).BeginHandOver();

        Assert.Equal(HandOverStage.HandingOver, handingOver.HandOver);
        Assert.False(handingOver.GivesBack); // deliveries still queue up
        Assert.False(handingOver.ClosesNewChannels);
        Assert.Throws<InvalidOperationException>(() => handingOver.StartGroup(run)); // not even joining the running run
        Assert.Throws<InvalidOperationException>(() => handingOver.EndRun(run).StartGroup(NewRun()));

        var handedOver = handingOver.EndRun(run).FinishHandOver();

        Assert.True(handedOver.ClosesNewChannels);
        Assert.True(handedOver.StartOver().ClosesNewChannels);
        Assert.False(handedOver.StartOver().MayStartGroup);
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

    [Fact]
    public void A_run_counts_its_groups_and_says_when_the_last_one_ended()
    {
        var run = NewRun();
        run.GroupStarted(20);
        run.GroupStarted(1);

        Assert.Equal((2, 21), (run.Groups, run.Requests));
        Assert.False(run.GroupEnded(1));
        Assert.True(run.GroupEnded(20));
        Assert.Equal((0, 0), (run.Groups, run.Requests));
    }
}

using System.Collections.Concurrent;
using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Messaging.Ordering;
using KbSync.KbWorker.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;

namespace KbSync.UnitTests.Messaging;

/// <summary>
/// The sequencer gets deliveries in any order (as MassTransit's concurrent dispatch hands them over)
/// and must run them in delivery-tag order, never two runs at once.
/// </summary>
public sealed class PartitionSequencerTests
{
    private readonly ConcurrentQueue<IReadOnlyList<string>> _runs = new();
    private int _running;
    private int _overlaps;
    private TaskCompletionSource? _holdFirstRun;

    private PartitionSequencer Create(int maxRun = 10, TimeSpan? gapTimeout = null) =>
        new(partition: 3, maxRun, RunAsync, NullLogger.Instance, gapTimeout ?? new KbWorkerOptions().DeliveryGapTimeout);

    private async Task<IReadOnlyList<PendingOperation>> RunAsync(int partition, IReadOnlyList<KbRequest> requests, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _running) > 1)
        {
            Interlocked.Increment(ref _overlaps);
        }

        try
        {
            if (Interlocked.Exchange(ref _holdFirstRun, null) is { } hold)
            {
                await hold.Task;
            }

            await Task.Yield();
            _runs.Enqueue(requests.Select(r => r.RequestedBy).ToList());
            return requests.Select(r => new PendingOperation(r, DateTimeOffset.UtcNow)).ToList();
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
    }

    private static KbRequest Request(string name) =>
        new(Guid.NewGuid(), "team-notes", name, DateTimeOffset.UtcNow, new NoteContent(name));

    private static DeliveryKey Tag(ulong tag, string consumer = "ctag-1") => new(consumer, tag);

    private string[] Ran() => _runs.SelectMany(r => r).ToArray();

    [Fact]
    public async Task Deliveries_that_arrive_out_of_order_run_in_delivery_order()
    {
        var sequencer = Create();
        var third = sequencer.SubmitAsync(Tag(3), Request("c"), default);
        var second = sequencer.SubmitAsync(Tag(2), Request("b"), default);
        Assert.Empty(_runs);

        var first = sequencer.SubmitAsync(Tag(1), Request("a"), default);
        await Task.WhenAll(first, second, third).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["a", "b", "c"], Ran());
        Assert.Equal("b", (await second).Request.RequestedBy);
    }

    [Fact]
    public async Task A_later_delivery_waits_while_an_earlier_one_is_missing()
    {
        var sequencer = Create();
        var later = sequencer.SubmitAsync(Tag(2), Request("b"), default);

        await Task.Delay(200);

        Assert.False(later.IsCompleted);
        Assert.Empty(_runs);
        await sequencer.SubmitAsync(Tag(1), Request("a"), default).WaitAsync(TimeSpan.FromSeconds(10));
        await later.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["a", "b"], Ran());
    }

    [Fact]
    public async Task A_delivery_that_never_reaches_the_consumer_leaves_no_gap_once_passed()
    {
        var sequencer = Create();
        var later = sequencer.SubmitAsync(Tag(2), Request("b"), default);

        sequencer.Pass(Tag(1));

        await later.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["b"], Ran());
    }

    [Fact]
    public async Task What_arrives_during_a_run_waits_for_it_and_runs_together_next()
    {
        _holdFirstRun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold = _holdFirstRun;
        var sequencer = Create();
        var first = sequencer.SubmitAsync(Tag(1), Request("a"), default);
        await Task.Delay(50);
        var next = new[] { sequencer.SubmitAsync(Tag(3), Request("c"), default), sequencer.SubmitAsync(Tag(2), Request("b"), default) };

        hold.SetResult();
        await Task.WhenAll([first, .. next]).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([["a"], ["b", "c"]], _runs.ToArray());
        Assert.Equal(0, _overlaps);
    }

    [Fact]
    public async Task A_run_takes_at_most_the_largest_batch()
    {
        var sequencer = Create(maxRun: 2);
        var all = Enumerable.Range(1, 5).Reverse().Select(i => sequencer.SubmitAsync(Tag((ulong)i), Request(((char)('a' + i - 1)).ToString()), default)).ToList();

        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["a", "b", "c", "d", "e"], Ran());
        Assert.All(_runs, run => Assert.True(run.Count <= 2));
        Assert.Equal(0, _overlaps);
    }

    [Fact]
    public async Task A_new_consumer_tag_starts_over_and_gives_back_what_the_old_channel_left_waiting()
    {
        var sequencer = Create();
        var stranded = sequencer.SubmitAsync(Tag(5, "old"), Request("x"), default);

        var fresh = sequencer.SubmitAsync(Tag(1, "new"), Request("a"), default);

        await fresh.WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<ReturnToQueueException>(() => stranded);
        Assert.Equal(["a"], Ran());
    }

    [Fact]
    public async Task A_gap_that_never_closes_is_passed_over_after_the_timeout()
    {
        var sequencer = Create(gapTimeout: TimeSpan.FromMilliseconds(300));
        var later = sequencer.SubmitAsync(Tag(4), Request("d"), default);

        await later.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["d"], Ran());
    }

    [Fact]
    public async Task When_stopping_nothing_after_a_cancelled_delivery_runs()
    {
        using var stopping = new CancellationTokenSource();
        var sequencer = Create();
        var later = sequencer.SubmitAsync(Tag(2), Request("b"), default);
        stopping.Cancel();

        var cancelled = sequencer.SubmitAsync(Tag(1), Request("a"), stopping.Token);

        await Assert.ThrowsAsync<ReturnToQueueException>(() => cancelled);
        await Assert.ThrowsAsync<ReturnToQueueException>(() => later);
        Assert.Empty(_runs);
    }

    [Fact]
    public async Task When_stopping_a_delivery_taken_for_the_next_run_before_a_cancelled_one_is_given_back_too()
    {
        _holdFirstRun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold = _holdFirstRun;
        using var stopping = new CancellationTokenSource();
        var sequencer = Create();
        var first = sequencer.SubmitAsync(Tag(1), Request("a"), default);
        await Task.Delay(50);
        var before = sequencer.SubmitAsync(Tag(2), Request("b"), default);
        var cancelled = sequencer.SubmitAsync(Tag(3), Request("c"), stopping.Token);
        stopping.Cancel();

        hold.SetResult();

        await first.WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<ReturnToQueueException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(10)));
        await Assert.ThrowsAsync<ReturnToQueueException>(() => before.WaitAsync(TimeSpan.FromSeconds(10))); // never left waiting for ever
        Assert.Equal(["a"], Ran());
    }

    [Fact]
    public async Task After_its_channel_drops_the_partition_starts_over_on_the_next_channel_even_with_the_same_consumer_tag()
    {
        var sequencer = Create();
        var (first, firstChannel) = FakeChannel.Create();
        await sequencer.SubmitAsync(Tag(1), Request("a"), default, first).WaitAsync(TimeSpan.FromSeconds(10));
        var stranded = sequencer.SubmitAsync(Tag(3), Request("waits for 2"), default, first);

        await firstChannel.ShutDownAsync();
        await Assert.ThrowsAsync<ReturnToQueueException>(() => stranded.WaitAsync(TimeSpan.FromSeconds(10)));

        var (second, _) = FakeChannel.Create();
        await sequencer.SubmitAsync(Tag(1), Request("b"), default, second).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["a", "b"], Ran());
    }
    [Fact]
    public async Task A_hand_over_lets_the_running_run_finish_starts_no_other_and_closes_the_channel_so_what_waits_goes_back()
    {
        _holdFirstRun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold = _holdFirstRun;
        var sequencer = Create();
        var (channel, fake) = FakeChannel.Create();
        var first = sequencer.SubmitAsync(Tag(1), Request("a"), default, channel);
        await Task.Delay(50);

        var handOver = new ChannelHandOver(NullLogger.Instance).HandOverAsync(sequencer, CancellationToken.None);
        var waiting = sequencer.SubmitAsync(Tag(2), Request("b"), default, channel);

        Assert.Equal(HandOverStage.HandingOver, sequencer.State.HandOver);
        Assert.False(waiting.IsCompleted); // queued, not given back: the broker would deliver it here again at once
        Assert.False(fake.Closed);
        hold.SetResult();
        await handOver.WaitAsync(TimeSpan.FromSeconds(10));

        await first.WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<ReturnToQueueException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(fake.Closed);
        Assert.Equal(["a"], Ran());
        Assert.Equal(new SequencerState(ChannelState.Halted, HandOverStage.HandedOver, null), sequencer.State);
    }

    [Fact]
    public async Task After_a_hand_over_a_channel_opened_again_is_closed_and_what_it_brings_goes_back()
    {
        var sequencer = Create();
        var (first, _) = FakeChannel.Create();
        await sequencer.SubmitAsync(Tag(1), Request("a"), default, first).WaitAsync(TimeSpan.FromSeconds(10));
        await new ChannelHandOver(NullLogger.Instance).HandOverAsync(sequencer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        var (again, reopened) = FakeChannel.Create();
        var late = sequencer.SubmitAsync(Tag(1), Request("b"), default, again);

        await Assert.ThrowsAsync<ReturnToQueueException>(() => late.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(reopened.Closed);
        Assert.Equal(["a"], Ran());
    }

    [Fact]
    public async Task A_run_that_fails_halts_the_channel_until_a_new_one_starts_over()
    {
        var sequencer = new PartitionSequencer(3, 10, (_, _, _) => throw new InvalidOperationException("boom"), NullLogger.Instance, TimeSpan.FromSeconds(30));

        var failed = sequencer.SubmitAsync(Tag(1), Request("a"), default);
        var error = await Assert.ThrowsAsync<ReturnToQueueException>(() => failed.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.IsType<InvalidOperationException>(error.InnerException);
        await WaitUntil(() => sequencer.State.Run is null);

        Assert.Equal(ChannelState.Halted, sequencer.State.Channel);
        await Assert.ThrowsAsync<ReturnToQueueException>(() => sequencer.SubmitAsync(Tag(2), Request("b"), default).WaitAsync(TimeSpan.FromSeconds(10)));
        var next = await Assert.ThrowsAsync<ReturnToQueueException>(() => sequencer.SubmitAsync(Tag(1, "ctag-2"), Request("c"), default).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.IsType<InvalidOperationException>(next.InnerException); // it ran (and failed again) rather than being given back
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var waited = 0; !condition(); waited += 10)
        {
            Assert.True(waited < 10_000, "the condition did not come true within 10 s");
            await Task.Delay(10);
        }
    }
}

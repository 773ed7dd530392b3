using System.Collections.Concurrent;
using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Messaging.Ordering;
using KbSync.KbWorker.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;

namespace KbSync.UnitTests.Messaging;

/// <summary>
/// The sequencer gets deliveries in any order (as MassTransit's concurrent dispatch hands them over)
/// and must run each KB's in delivery-tag order, never two groups of one KB at once, while other KBs'
/// groups go on beside them.
/// </summary>
public sealed class PartitionSequencerTests
{
    private readonly ConcurrentQueue<IReadOnlyList<string>> _runs = new();
    private readonly ConcurrentDictionary<string, int> _runningByKb = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _holds = new();
    private int _running;
    private int _mostRunning;
    private int _overlaps;
    private TaskCompletionSource? _holdFirstRun;

    private PartitionSequencer Create(int maxRun = 10, TimeSpan? gapTimeout = null, int maxGroups = 20) =>
        new(partition: 3, maxRun, maxGroups, RunAsync, NullLogger.Instance, gapTimeout ?? new KbWorkerOptions().DeliveryGapTimeout);

    /// <summary>One KB's group: counts overlaps of one KB's groups, and waits while its KB (or the first group) is held.</summary>
    private async Task<IReadOnlyList<PendingOperation>> RunAsync(int partition, IReadOnlyList<KbRequest> requests, CancellationToken cancellationToken)
    {
        var kb = requests[0].KbId;
        Assert.All(requests, r => Assert.Equal(kb, r.KbId)); // a group is one KB's
        if (_runningByKb.AddOrUpdate(kb, 1, (_, n) => n + 1) > 1)
        {
            Interlocked.Increment(ref _overlaps);
        }

        var running = Interlocked.Increment(ref _running);
        InterlockedMax(ref _mostRunning, running);
        try
        {
            if (Interlocked.Exchange(ref _holdFirstRun, null) is { } hold)
            {
                await hold.Task;
            }

            if (_holds.TryGetValue(kb, out var kbHold))
            {
                await kbHold.Task;
            }

            await Task.Yield();
            _runs.Enqueue(requests.Select(r => r.RequestedBy).ToList());
            return requests.Select(r => new PendingOperation(r, DateTimeOffset.UtcNow)).ToList();
        }
        finally
        {
            Interlocked.Decrement(ref _running);
            _runningByKb.AddOrUpdate(kb, 0, (_, n) => n - 1);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = target; value > seen; seen = target)
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }

    private static KbRequest Request(string name, string kb = "team-notes") =>
        new(Guid.NewGuid(), kb, name, DateTimeOffset.UtcNow, new NoteContent(name));

    private readonly IChannel _channel = FakeChannel.Create().Channel;

    /// <summary>Delivery <paramref name="tag"/> of <paramref name="channel"/> (the test's one channel unless named).</summary>
    private DeliveryKey Tag(ulong tag, IChannel? channel = null) => new(channel ?? _channel, tag);

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
    public async Task A_new_channel_starts_over_and_gives_back_what_the_old_channel_left_waiting()
    {
        var sequencer = Create();
        var stranded = sequencer.SubmitAsync(Tag(5), Request("x"), default);

        var fresh = sequencer.SubmitAsync(Tag(1, FakeChannel.Create().Channel), Request("a"), default);

        await fresh.WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<ReturnToQueueException>(() => stranded);
        Assert.Equal(["a"], Ran());
    }

    [Fact]
    public async Task A_delivery_of_a_channel_left_behind_goes_back_and_does_not_take_the_partition_back()
    {
        var sequencer = Create();
        await sequencer.SubmitAsync(Tag(1), Request("a"), default).WaitAsync(TimeSpan.FromSeconds(10));
        var (next, _) = FakeChannel.Create();
        await sequencer.SubmitAsync(Tag(1, next), Request("b"), default).WaitAsync(TimeSpan.FromSeconds(10));

        var late = sequencer.SubmitAsync(Tag(2), Request("late, on the old channel"), default);
        sequencer.Pass(Tag(3));
        var after = sequencer.SubmitAsync(Tag(2, next), Request("c"), default);

        await Assert.ThrowsAsync<ReturnToQueueException>(() => late.WaitAsync(TimeSpan.FromSeconds(10)));
        await after.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["a", "b", "c"], Ran());
    }

    [Fact]
    public async Task A_channels_first_delivery_that_never_reaches_the_consumer_leaves_no_gap()
    {
        var sequencer = Create(gapTimeout: TimeSpan.FromMinutes(5));
        await sequencer.SubmitAsync(Tag(1), Request("a"), default).WaitAsync(TimeSpan.FromSeconds(10));
        var (next, _) = FakeChannel.Create();

        sequencer.Pass(Tag(1, next)); // an unreadable body, the first thing the new channel brings
        var second = sequencer.SubmitAsync(Tag(2, next), Request("b"), default);

        await second.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["a", "b"], Ran());
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
    public async Task After_its_channel_drops_the_partition_starts_over_on_the_next_channel()
    {
        var sequencer = Create();
        var (first, firstChannel) = FakeChannel.Create();
        await sequencer.SubmitAsync(Tag(1, first), Request("a"), default).WaitAsync(TimeSpan.FromSeconds(10));
        var stranded = sequencer.SubmitAsync(Tag(3, first), Request("waits for 2"), default);

        await firstChannel.ShutDownAsync();
        await Assert.ThrowsAsync<ReturnToQueueException>(() => stranded.WaitAsync(TimeSpan.FromSeconds(10)));

        var (second, _) = FakeChannel.Create();
        await sequencer.SubmitAsync(Tag(1, second), Request("b"), default).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["a", "b"], Ran());
    }
    [Fact]
    public async Task A_hand_over_lets_the_running_run_finish_starts_no_other_and_closes_the_channel_so_what_waits_goes_back()
    {
        _holdFirstRun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold = _holdFirstRun;
        var sequencer = Create();
        var (channel, fake) = FakeChannel.Create();
        var first = sequencer.SubmitAsync(Tag(1, channel), Request("a"), default);
        await Task.Delay(50);

        var handOver = new ChannelHandOver(NullLogger.Instance).HandOverAsync(sequencer, CancellationToken.None);
        var waiting = sequencer.SubmitAsync(Tag(2, channel), Request("b"), default);

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
        await sequencer.SubmitAsync(Tag(1, first), Request("a"), default).WaitAsync(TimeSpan.FromSeconds(10));
        await new ChannelHandOver(NullLogger.Instance).HandOverAsync(sequencer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        var (again, reopened) = FakeChannel.Create();
        var late = sequencer.SubmitAsync(Tag(1, again), Request("b"), default);

        await Assert.ThrowsAsync<ReturnToQueueException>(() => late.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(reopened.Closed);
        Assert.Equal(["a"], Ran());
    }

    [Fact]
    public async Task A_run_that_fails_halts_the_channel_until_a_new_one_starts_over()
    {
        var sequencer = new PartitionSequencer(3, 10, 20, (_, _, _) => throw new InvalidOperationException("boom"), NullLogger.Instance, TimeSpan.FromSeconds(30));

        var failed = sequencer.SubmitAsync(Tag(1), Request("a"), default);
        var error = await Assert.ThrowsAsync<ReturnToQueueException>(() => failed.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.IsType<InvalidOperationException>(error.InnerException);
        await WaitUntil(() => sequencer.State.Run is null);

        Assert.Equal(ChannelState.Halted, sequencer.State.Channel);
        await Assert.ThrowsAsync<ReturnToQueueException>(() => sequencer.SubmitAsync(Tag(2), Request("b"), default).WaitAsync(TimeSpan.FromSeconds(10)));
        var next = await Assert.ThrowsAsync<ReturnToQueueException>(() => sequencer.SubmitAsync(Tag(1, FakeChannel.Create().Channel), Request("c"), default).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.IsType<InvalidOperationException>(next.InnerException); // it ran (and failed again) rather than being given back
    }

    [Fact]
    public async Task A_quiet_kbs_request_runs_and_finishes_while_a_busy_kbs_group_before_it_still_runs()
    {
        var hot = _holds.GetOrAdd("hot", _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var sequencer = Create(maxRun: 2);
        var hotOnes = Enumerable.Range(1, 5).Select(i => sequencer.SubmitAsync(Tag((ulong)i), Request($"h{i}", "hot"), default)).ToList();
        var quiet = sequencer.SubmitAsync(Tag(6), Request("q1", "quiet"), default);
        var quietAgain = sequencer.SubmitAsync(Tag(7), Request("q2", "quiet"), default);

        await Task.WhenAll(quiet, quietAgain).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.All(hotOnes, h => Assert.False(h.IsCompleted)); // the hot KB's first group is still running
        Assert.Equal(["q1", "q2"], Ran());
        hot.SetResult();
        await Task.WhenAll(hotOnes).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["h1", "h2", "h3", "h4", "h5"], Ran().Where(n => n.StartsWith('h')));
        Assert.Equal(0, _overlaps);
    }

    [Fact]
    public async Task With_kbs_interleaved_and_deliveries_shuffled_each_kb_runs_in_delivery_order_one_group_at_a_time()
    {
        var sequencer = Create(maxRun: 3);
        var random = new Random(7);
        var kbs = new[] { "a", "b", "c", "d" };
        var deliveries = Enumerable.Range(1, 200).Select(i => (Tag: (ulong)i, Kb: kbs[random.Next(kbs.Length)])).ToList();
        var submitted = deliveries.OrderBy(_ => random.Next()).Select(d => sequencer.SubmitAsync(Tag(d.Tag), Request($"{d.Kb}{d.Tag}", d.Kb), default)).ToList();

        await Task.WhenAll(submitted).WaitAsync(TimeSpan.FromSeconds(20));

        foreach (var kb in kbs)
        {
            Assert.Equal(deliveries.Where(d => d.Kb == kb).Select(d => $"{kb}{d.Tag}"), Ran().Where(n => n.StartsWith(kb, StringComparison.Ordinal)));
        }

        Assert.Equal(0, _overlaps);
        Assert.All(_runs, run => Assert.True(run.Count <= 3));
    }

    [Fact]
    public async Task No_more_groups_than_the_limit_run_at_once()
    {
        var sequencer = Create(maxGroups: 2);
        var all = Enumerable.Range(1, 30).Select(i => sequencer.SubmitAsync(Tag((ulong)i), Request($"n{i}", $"kb{i % 6}"), default)).ToList();

        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(30, Ran().Length);
        Assert.InRange(_mostRunning, 1, 2);
    }

    [Fact]
    public async Task A_hand_over_waits_for_every_kbs_running_group_and_starts_no_other()
    {
        var a = _holds.GetOrAdd("a", _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var b = _holds.GetOrAdd("b", _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var sequencer = Create();
        var (channel, fake) = FakeChannel.Create();
        var first = sequencer.SubmitAsync(Tag(1, channel), Request("a1", "a"), default);
        var second = sequencer.SubmitAsync(Tag(2, channel), Request("b1", "b"), default);
        await WaitUntil(() => sequencer.State.Run is { Groups: 2 });

        var handOver = new ChannelHandOver(NullLogger.Instance).HandOverAsync(sequencer, CancellationToken.None);
        var waiting = sequencer.SubmitAsync(Tag(3, channel), Request("c1", "c"), default);
        a.SetResult();
        await first.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(100);

        Assert.False(handOver.IsCompleted); // b's group still runs
        Assert.False(fake.Closed);
        b.SetResult();
        await handOver.WaitAsync(TimeSpan.FromSeconds(10));
        await second.WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<ReturnToQueueException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(fake.Closed);
        Assert.Equal(["a1", "b1"], Ran().Order());
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

using System.Collections.Concurrent;
using KbSync.Contracts;
using KbSync.KbWorker;
using KbSync.KbWorker.Failures;
using KbSync.KbWorker.Pipeline;
using KbSync.KbWorker.Telemetry;
using KbSync.Persistence.Partitions;
using KbSync.UnitTests.Doubles;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KbSync.UnitTests.Failures;

/// <summary>
/// The backstop decides, for a run that threw, whether the partition waits (a service is down), the
/// run is tried again (a failure while every service answers, a bounded number of times), or the
/// request to blame is failed for good. Pauses are recorded, not waited for.
/// </summary>
public sealed class BackstopTests
{
    private readonly FakeProbe _probe = new();
    private readonly ImmediateTime _time = new();
    private readonly List<Guid> _gaveUp = [];

    private Backstop Create(int maxFailedAttempts = 3) => new(
        _probe,
        new PartitionPauses(new NoDatabase()),
        new WorkerMetrics(new TestMeters()),
        _time,
        Options.Create(new KbWorkerOptions { WorkerId = "w-test", MaxFailedAttempts = maxFailedAttempts }),
        NullLogger<Backstop>.Instance);

    private Task GiveUp(PendingOperation operation)
    {
        _gaveUp.Add(operation.Id);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_run_that_succeeds_after_a_failure_is_tried_again_and_nothing_is_given_up()
    {
        var group = Operations(1);
        var calls = 0;
        await Create().RunAsync(2, "kb", group, _ => ++calls == 1 ? throw new InvalidOperationException("once") : Task.CompletedTask, GiveUp, CancellationToken.None);

        Assert.Equal(2, calls);
        Assert.Empty(_gaveUp);
        Assert.Equal([TimeSpan.FromSeconds(1)], _time.Delays);
    }

    [Fact]
    public async Task A_lone_request_that_keeps_failing_while_services_answer_is_failed_as_internal_error()
    {
        var group = Operations(1);
        var calls = 0;
        await Create(maxFailedAttempts: 3).RunAsync(2, "kb", group, _ => { calls++; throw new InvalidOperationException("a bug"); }, GiveUp, CancellationToken.None);

        Assert.Equal(3, calls);
        Assert.Equal([group[0].Id], _gaveUp);
        Assert.True(group[0].Poisoned);
        Assert.Equal(ReasonCodes.InternalError, group[0].Outcome!.ErrorCode);
        Assert.Contains("a bug", group[0].Outcome!.ErrorMessage);
    }

    [Fact]
    public async Task Failures_while_a_service_is_down_are_not_counted_and_the_partition_waits()
    {
        var group = Operations(1);
        var calls = 0;
        _probe.DownFor = 5;
        await Create(maxFailedAttempts: 2).RunAsync(2, "kb", group, _ => ++calls <= 6 ? throw new InvalidOperationException("connection refused") : Task.CompletedTask, GiveUp, CancellationToken.None);

        Assert.Equal(7, calls); // five while PostgreSQL was down, one counted strike, then success
        Assert.Empty(_gaveUp);
        Assert.Equal([1, 2, 4, 8, 16, 30], _time.Delays.Select(d => (int)d.TotalSeconds));
    }

    [Fact]
    public async Task A_group_that_keeps_failing_is_split_and_only_the_request_to_blame_is_given_up()
    {
        var group = Operations(3);
        var bad = group[1].Id;
        var succeeded = new List<Guid>();
        await Create(maxFailedAttempts: 2).RunAsync(2, "kb", group, run =>
        {
            if (run.Any(o => o.Id == bad))
            {
                throw new InvalidOperationException("this one");
            }

            succeeded.AddRange(run.Select(o => o.Id));
            return Task.CompletedTask;
        }, GiveUp, CancellationToken.None);

        Assert.Equal([group[0].Id, group[2].Id], succeeded); // in order, around the one to blame
        Assert.Equal([bad], _gaveUp);
        Assert.False(group[0].Poisoned);
        Assert.True(group[1].Poisoned);
    }

    [Fact]
    public async Task A_group_that_keeps_failing_is_halved_so_one_bad_request_costs_the_others_few_runs()
    {
        var group = Operations(8);
        var bad = group[5].Id;
        var runs = new List<List<Guid>>();
        var succeeded = new List<Guid>();
        await Create(maxFailedAttempts: 2).RunAsync(2, "kb", group, run =>
        {
            runs.Add([.. run.Select(o => o.Id)]);
            if (run.Any(o => o.Id == bad))
            {
                throw new InvalidOperationException("this one");
            }

            succeeded.AddRange(run.Select(o => o.Id));
            return Task.CompletedTask;
        }, GiveUp, CancellationToken.None);

        Assert.Equal([.. group.Where(o => o.Id != bad).Select(o => o.Id)], succeeded); // in order, around the one to blame
        Assert.Equal([bad], _gaveUp);
        Assert.True(group[5].Poisoned);
        Assert.All(group.Where(o => o.Id != bad), o => Assert.False(o.Poisoned));
        // 2 runs of the 8, then 0-3 ok, 4-7 failing, 4-5 failing, 4 ok, 5 twice alone, 6-7 ok: 9 runs, where
        // one request at a time took 11 (2 + 7 good ones + the bad one twice); with 100 it is about 17 against 103
        Assert.Equal(9, runs.Count);
        Assert.Equal([.. group.Skip(6).Select(o => o.Id)], runs[^1]);
    }

    [Fact]
    public async Task Two_bad_requests_in_one_group_are_both_found_and_only_they_are_given_up()
    {
        var group = Operations(5);
        var bad = new[] { group[1].Id, group[3].Id };
        var succeeded = new List<Guid>();
        await Create(maxFailedAttempts: 2).RunAsync(2, "kb", group, run =>
        {
            if (run.Any(o => bad.Contains(o.Id)))
            {
                throw new InvalidOperationException("this one");
            }

            succeeded.AddRange(run.Select(o => o.Id));
            return Task.CompletedTask;
        }, GiveUp, CancellationToken.None);

        Assert.Equal([group[0].Id, group[2].Id, group[4].Id], succeeded); // in order, around both
        Assert.Equal(bad, _gaveUp);
    }

    [Fact]
    public async Task A_half_that_fails_while_a_service_is_down_waits_for_it_instead_of_being_halved()
    {
        var group = Operations(4);
        var bad = group[0].Id;
        var outage = true;
        var succeeded = new List<List<Guid>>();
        await Create(maxFailedAttempts: 2).RunAsync(2, "kb", group, run =>
        {
            if (run.Any(o => o.Id == bad))
            {
                throw new InvalidOperationException("this one");
            }

            if (run.Count == 2 && run[0].Id == group[2].Id && outage)
            {
                outage = false;
                _probe.DownFor = 1;
                throw new InvalidOperationException("the database went away");
            }

            succeeded.Add([.. run.Select(o => o.Id)]);
            return Task.CompletedTask;
        }, GiveUp, CancellationToken.None);

        // the second half failed once while PostgreSQL was down: tried again whole after a pause, not halved
        Assert.Equal([[group[1].Id], [group[2].Id, group[3].Id]], succeeded);
        Assert.Equal([bad], _gaveUp);
    }

    [Fact]
    public async Task A_stop_ends_the_retries_without_giving_anything_up()
    {
        var group = Operations(1);
        using var stop = new CancellationTokenSource();
        var run = Create().RunAsync(2, "kb", group, _ =>
        {
            stop.Cancel();
            throw new OperationCanceledException(stop.Token);
        }, GiveUp, stop.Token);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.Empty(_gaveUp);
    }

    private static List<PendingOperation> Operations(int count) =>
        Enumerable.Range(0, count)
            .Select(i => new PendingOperation(new KbRequest(Guid.NewGuid(), "kb", $"user-{i}", DateTimeOffset.UtcNow, new NoteContent($"note {i}")), DateTimeOffset.UtcNow))
            .ToList();

    private sealed class FakeProbe : IServiceProbe
    {
        /// <summary>How many probes from now answer "PostgreSQL is down".</summary>
        public int DownFor { get; set; }

        public Task<ServiceDown?> FindDownAsync(CancellationToken cancellationToken) =>
            Task.FromResult(DownFor-- > 0 ? new ServiceDown("PostgreSQL", "connection refused") : null);
    }

    /// <summary>Timers fire at once; the delays asked for are kept.</summary>
    private sealed class ImmediateTime : TimeProvider
    {
        public ConcurrentQueue<TimeSpan> Delays { get; } = new();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Delays.Enqueue(dueTime);
            return System.CreateTimer(callback, state, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }
}

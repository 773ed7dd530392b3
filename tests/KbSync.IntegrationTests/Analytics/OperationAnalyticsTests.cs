using KbSync.Contracts;
using KbSync.IntegrationTests.Fixtures;
using KbSync.Persistence.Analytics;
using KbSync.Persistence.Analytics.Rollups;
using KbSync.Persistence.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KbSync.IntegrationTests.Analytics;

/// <summary>
/// <see cref="OperationAnalytics"/> on a real PostgreSQL with a few hundred operations of known
/// values. Every figure is checked against the same figure worked out here in C#, independently of
/// the SQL: percentiles by sorting and interpolating, buckets by counting, queue depth by a
/// brute-force scan of every instant where it can change.
/// </summary>
[Collection(ServicesCollection.Name)]
public sealed class OperationAnalyticsTests(PostgresService postgres) : IAsyncLifetime
{
    /// <summary>Start of the main range; the seed spreads operations over [T0 - 30 min, T0 + 6 h 30 min).</summary>
    /// <summary>In the past: the rollup builder seals only minutes older than its grace (0 here).</summary>
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset T6 = T0.AddHours(6);

    private TestDatabase _database = null!;
    private OperationAnalytics _analytics = null!;
    private List<OperationRecord> _seeded = null!;

    public async Task InitializeAsync()
    {
        _database = await CreateDatabaseAsync();
        _analytics = new OperationAnalytics(_database.Factory());
        _seeded = Seed.Operations();
        await SaveAsync(_seeded);
    }

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Theory]
    [InlineData(null)]
    [InlineData("kb-a")]
    [InlineData("kb-c")]
    public async Task Status_counts_include_every_operation_requested_in_the_range_whatever_its_status(string? kbId)
    {
        var query = new AnalyticsQuery(kbId, T0, T6);

        var counts = await _analytics.GetStatusCountsAsync(query);

        var requested = Requested(query).ToList();
        long Count(OperationStatus status) => requested.Count(o => o.Status == status);
        Assert.Equal(
            new StatusCounts(Count(OperationStatus.Queued), Count(OperationStatus.Running), Count(OperationStatus.Succeeded),
                Count(OperationStatus.Duplicate), Count(OperationStatus.Failed), Count(OperationStatus.TimedOut)),
            counts);
        Assert.Equal(requested.Count, counts.Total);
        if (kbId is null)
        {
            Assert.True(counts.Queued > 0 && counts.Running > 0 && counts.Duplicate > 0 && counts.TimedOut > 0, "the seed should have every status");
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("kb-b")]
    public async Task Waits_are_percentiles_of_the_finished_operations_requested_in_the_range(string? kbId)
    {
        var query = new AnalyticsQuery(kbId, T0, T6);

        var waits = await _analytics.GetWaitsAsync(query);

        var finished = Requested(query).Where(o => o.FinishedAt is not null).ToList();
        AssertDistribution(finished.Select(o => o.QueueWaitMs), waits.QueueWait);
        AssertDistribution(finished.Select(o => o.LockWaitMs), waits.LockWait);
        Assert.True(waits.QueueWait.Samples > 50);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("kb-a")]
    public async Task Step_durations_leave_out_the_steps_an_operation_never_ran(string? kbId)
    {
        var query = new AnalyticsQuery(kbId, T0, T6);

        var steps = await _analytics.GetStepDurationsAsync(query);

        var finished = Requested(query).Where(o => o.FinishedAt is not null).ToList();
        AssertStep(finished.Select(o => o.PullMs), steps.Pull);
        AssertStep(finished.Select(o => o.ProcessMs), steps.Process);
        AssertStep(finished.Select(o => o.CommitMs), steps.Commit);
        AssertStep(finished.Select(o => o.PushMs), steps.Push);
        Assert.True(steps.Push.Samples < steps.Pull.Samples, "duplicates and failures push nothing");
    }

    [Theory]
    [InlineData(null, 60)]
    [InlineData("kb-a", 60)]
    [InlineData(null, 25)]
    [InlineData("kb-b", 7)]
    public async Task Throughput_lists_every_bucket_and_counts_operations_in_the_bucket_they_finished_in(string? kbId, int bucketMinutes)
    {
        var query = new AnalyticsQuery(kbId, T0, T6, TimeSpan.FromMinutes(bucketMinutes));

        var buckets = await _analytics.GetThroughputAsync(query);

        var expected = new List<ThroughputBucket>();
        for (var start = T0; start < T6; start = start.AddMinutes(bucketMinutes))
        {
            var end = start.AddMinutes(bucketMinutes) < T6 ? start.AddMinutes(bucketMinutes) : T6;
            var done = Of(kbId).Where(o => o.FinishedAt >= start && o.FinishedAt < end).ToList();
            long Count(OperationStatus status) => done.Count(o => o.Status == status);
            expected.Add(new ThroughputBucket(start, end, done.Count,
                Count(OperationStatus.Succeeded), Count(OperationStatus.Duplicate), Count(OperationStatus.Failed), Count(OperationStatus.TimedOut)));
        }

        Assert.Equal(expected, buckets);
        Assert.Equal(T6, buckets[^1].End);
    }

    [Theory]
    [InlineData(null, 60)]
    [InlineData("kb-a", 30)]
    [InlineData("kb-b", 7)]
    [InlineData("kb-edge", 60)]
    public async Task Waits_over_time_are_percentiles_of_the_finished_operations_requested_in_each_bucket(string? kbId, int bucketMinutes)
    {
        var query = new AnalyticsQuery(kbId, T0, T6, TimeSpan.FromMinutes(bucketMinutes));

        var buckets = await _analytics.GetWaitsOverTimeAsync(query);

        var expected = new List<WaitBucket>();
        for (var start = T0; start < T6; start = start.AddMinutes(bucketMinutes))
        {
            var end = start.AddMinutes(bucketMinutes) < T6 ? start.AddMinutes(bucketMinutes) : T6;
            var finished = Of(kbId).Where(o => o.RequestedAt >= start && o.RequestedAt < end && o.FinishedAt is not null).ToList();
            var (queue, locks) = (finished.Select(o => o.QueueWaitMs).ToList(), finished.Select(o => o.LockWaitMs).ToList());
            expected.Add(new WaitBucket(start, end,
                queue.Count(v => v is not null), HistoryRows.PercentileCont(queue, 0.5), HistoryRows.PercentileCont(queue, 0.95),
                locks.Count(v => v is not null), HistoryRows.PercentileCont(locks, 0.5), HistoryRows.PercentileCont(locks, 0.95)));
        }

        Assert.Equal(expected.Count, buckets.Count);
        foreach (var (want, got) in expected.Zip(buckets))
        {
            Assert.Equal((want.Start, want.End, want.QueueWaitSamples, want.LockWaitSamples), (got.Start, got.End, got.QueueWaitSamples, got.LockWaitSamples));
            AssertClose(want.QueueWaitP50Ms, got.QueueWaitP50Ms);
            AssertClose(want.QueueWaitP95Ms, got.QueueWaitP95Ms);
            AssertClose(want.LockWaitP50Ms, got.LockWaitP50Ms);
            AssertClose(want.LockWaitP95Ms, got.LockWaitP95Ms);
        }

        Assert.Contains(buckets, b => b.QueueWaitSamples > 1);
        Assert.Contains(buckets, b => b.QueueWaitSamples == 0 && b.QueueWaitP50Ms is null && b.LockWaitP95Ms is null);
    }

    [Fact]
    public async Task A_bucket_in_which_nothing_finished_is_listed_with_zeros()
    {
        var buckets = await _analytics.GetThroughputAsync(new AnalyticsQuery(null, T0, T6, TimeSpan.FromHours(1)));

        Assert.Equal(6, buckets.Count);
        Assert.Equal(new ThroughputBucket(T0.AddHours(3), T0.AddHours(4), 0, 0, 0, 0, 0), buckets[3]);
        Assert.All(buckets.Where((_, i) => i != 3), b => Assert.True(b.Finished > 0));
    }

    [Fact]
    public async Task An_operation_finishing_exactly_on_a_bucket_boundary_counts_in_the_bucket_it_opens()
    {
        var buckets = await _analytics.GetThroughputAsync(new AnalyticsQuery("kb-edge", T0, T6, TimeSpan.FromHours(1)));

        // five finish within the first minutes; erin's fails exactly at T0 + 2 h
        Assert.Equal(new long[] { 5, 0, 1, 0, 0, 0 }, buckets.Select(b => b.Finished));
        Assert.Equal(1, buckets[2].Failed);
    }

    [Theory]
    [MemberData(nameof(QueueRanges))]
    public async Task Queue_depth_peak_and_mean_match_a_brute_force_sweep(string? kbId, int fromSeconds, int toSeconds)
    {
        var query = new AnalyticsQuery(kbId, T0.AddSeconds(fromSeconds), T0.AddSeconds(toSeconds));

        var queue = await _analytics.GetQueueContentionAsync(query);

        var expected = BruteForceQueue(Of(kbId), query.Since, query.Until);
        Assert.Equal(expected.PeakDepth, queue.PeakDepth);
        Assert.Equal(expected.PeakAt, queue.PeakAt);
        Assert.Equal(expected.MeanDepth, queue.MeanDepth, 1e-9);
    }

    public static TheoryData<string?, int, int> QueueRanges() => new()
    {
        { null, 0, 6 * 3600 },                 // the whole range, with the burst
        { "kb-a", 0, 6 * 3600 },
        { "kb-c", 0, 6 * 3600 },
        { null, 5400 + 1, 5400 + 20 },         // starts in the middle of the burst: operations already queued at Since
        { null, -1800, 0 },                    // ends exactly where the range above starts
        { "kb-edge", 0, 3600 },                // requested exactly at Since, queued across it, ties at one instant
        { null, 4 * 3600, 8 * 3600 },          // operations still queued at Until
    };

    [Fact]
    public async Task Queue_depth_over_many_random_ranges_matches_a_brute_force_sweep()
    {
        var random = new Random(7);
        string?[] kbs = [null, "kb-a", "kb-b", "kb-c", "kb-edge"];
        for (var i = 0; i < 40; i++)
        {
            var kbId = kbs[random.Next(kbs.Length)];
            var since = T0.AddMinutes(-40).AddMilliseconds(random.NextInt64(7L * 3600 * 1000));
            var until = since.AddSeconds(1 + random.Next(8 * 3600));
            if (i % 3 == 0)
            {
                since = since.AddTicks(-(since.UtcTicks % TimeSpan.TicksPerMinute)); // slot and bucket edges on whole minutes
            }

            var queue = await _analytics.GetQueueContentionAsync(new AnalyticsQuery(kbId, since, until));

            var expected = BruteForceQueue(Of(kbId), since, until);
            var range = $"{kbId ?? "all"} {since:O}..{until:O}";
            Assert.True(expected.PeakDepth == queue.PeakDepth, $"{range}: peak {queue.PeakDepth}, expected {expected.PeakDepth}");
            Assert.True(expected.PeakAt == queue.PeakAt, $"{range}: peak at {queue.PeakAt:O}, expected {expected.PeakAt:O}");
            Assert.True(Math.Abs(expected.MeanDepth - queue.MeanDepth) < 1e-9, $"{range}: mean {queue.MeanDepth}, expected {expected.MeanDepth}");
        }
    }

    [Fact]
    public async Task The_peak_time_is_the_first_instant_of_the_peak_even_when_it_lasted_only_a_moment()
    {
        await using var database = await CreateDatabaseAsync();
        var analytics = new OperationAnalytics(database.Factory());
        await SaveAsync(database,
        [
            // depth 2 for 200 ms inside one second, back to 0 before that second ends
            Seed.Row("kb-q", "alice", OperationStatus.Succeeded, T0.AddMilliseconds(10_200), T0.AddMilliseconds(10_500), T0.AddSeconds(11)),
            Seed.Row("kb-q", "bob", OperationStatus.Succeeded, T0.AddMilliseconds(10_300), T0.AddMilliseconds(10_600), T0.AddSeconds(11)),
            // depth 2 again, for 15 s, later
            Seed.Row("kb-q", "carol", OperationStatus.Succeeded, T0.AddSeconds(50), T0.AddSeconds(70), T0.AddSeconds(71)),
            Seed.Row("kb-q", "dave", OperationStatus.Succeeded, T0.AddSeconds(55), T0.AddSeconds(70), T0.AddSeconds(71)),
        ]);

        var queue = await analytics.GetQueueContentionAsync(new AnalyticsQuery("kb-q", T0, T0.AddSeconds(100)));

        Assert.Equal(2, queue.PeakDepth);
        Assert.Equal(T0.AddMilliseconds(10_300), queue.PeakAt);
        Assert.Equal((0.3 + 0.3 + 20 + 15) / 100, queue.MeanDepth, 1e-12);
    }

    [Fact]
    public async Task A_request_leaving_and_another_arriving_on_a_slot_boundary_are_each_counted_once()
    {
        await using var database = await CreateDatabaseAsync();
        var analytics = new OperationAnalytics(database.Factory());
        await SaveAsync(database,
        [
            Seed.Row("kb-q", "alice", OperationStatus.Succeeded, T0.AddMilliseconds(5_500), T0.AddMilliseconds(7_200), T0.AddSeconds(8)),
            // leaves exactly at 6 s, when carol arrives: a 10 s range is searched in 1 s slots, so 6 s is a slot's start
            Seed.Row("kb-q", "bob", OperationStatus.Succeeded, T0.AddMilliseconds(5_700), T0.AddSeconds(6), T0.AddSeconds(8)),
            Seed.Row("kb-q", "carol", OperationStatus.Succeeded, T0.AddSeconds(6), T0.AddMilliseconds(6_500), T0.AddSeconds(8)),
        ]);

        var queue = await analytics.GetQueueContentionAsync(new AnalyticsQuery("kb-q", T0, T0.AddSeconds(10)));

        // depth: 1 on [5.5, 5.7), 2 on [5.7, 6.5), 1 on [6.5, 7.2)
        Assert.Equal(2, queue.PeakDepth);
        Assert.Equal(T0.AddMilliseconds(5_700), queue.PeakAt);
        Assert.Equal((0.2 + 1.6 + 0.7) / 10, queue.MeanDepth, 1e-12);
    }

    [Fact]
    public async Task The_queue_peak_is_where_the_burst_piled_up_and_the_mean_weights_depth_by_time()
    {
        var queue = await _analytics.GetQueueContentionAsync(new AnalyticsQuery(null, T0, T6));

        Assert.True(queue.PeakDepth >= Seed.BurstSize / 2, $"peak {queue.PeakDepth}");
        Assert.InRange(queue.PeakAt!.Value, Seed.BurstAt, Seed.BurstAt.AddMinutes(1));
        Assert.InRange(queue.MeanDepth, 0.0001, queue.PeakDepth);
    }

    [Fact]
    public async Task Queue_depth_counts_a_request_from_its_arrival_until_a_worker_takes_it_or_until_the_range_ends()
    {
        await using var database = await CreateDatabaseAsync();
        var analytics = new OperationAnalytics(database.Factory());
        await SaveAsync(database,
        [
            // queued 10:00:00 to 10:00:30
            Seed.Row("kb-q", "alice", OperationStatus.Succeeded, T0.AddSeconds(0), T0.AddSeconds(30), T0.AddSeconds(31)),
            // queued 10:00:10 to 10:00:20: overlaps the first, depth 2 from 10 s to 20 s
            Seed.Row("kb-q", "bob", OperationStatus.Succeeded, T0.AddSeconds(10), T0.AddSeconds(20), T0.AddSeconds(21)),
            // arrives exactly when bob leaves: depth stays 2 at 20 s, it does not touch 3
            Seed.Row("kb-q", "frank", OperationStatus.Succeeded, T0.AddSeconds(20), T0.AddSeconds(25), T0.AddSeconds(26)),
            // its start is before its request (skewed clocks): never queued
            Seed.Row("kb-q", "carol", OperationStatus.Succeeded, T0.AddSeconds(12), T0.AddSeconds(11), T0.AddSeconds(13)),
            // never started and never finished: queued from 50 s to the end of the range
            Seed.Row("kb-q", "dave", OperationStatus.Queued, T0.AddSeconds(50), null, null),
            // refused without starting: queued until it finished, 80 s to 90 s
            Seed.Row("kb-q", "erin", OperationStatus.Failed, T0.AddSeconds(80), null, T0.AddSeconds(90)),
        ]);

        var queue = await analytics.GetQueueContentionAsync(new AnalyticsQuery("kb-q", T0, T0.AddSeconds(100)));

        // depth: 1 on [0,10), 2 on [10,25), 1 on [25,30), 0 on [30,50), 1 on [50,80), 2 on [80,90), 1 on [90,100)
        Assert.Equal(2, queue.PeakDepth);
        Assert.Equal(T0.AddSeconds(10), queue.PeakAt);
        Assert.Equal((10 + 30 + 5 + 0 + 30 + 20 + 10) / 100.0, queue.MeanDepth, 1e-12);

        var later = await analytics.GetQueueContentionAsync(new AnalyticsQuery("kb-q", T0.AddSeconds(85), T0.AddSeconds(95)));
        Assert.Equal(2, later.PeakDepth);
        Assert.Equal(T0.AddSeconds(85), later.PeakAt);
        Assert.Equal((5 * 2 + 5 * 1) / 10.0, later.MeanDepth, 1e-12);
    }

    [Theory]
    [InlineData(null, 3)]
    [InlineData(null, 100)]
    [InlineData("kb-a", 4)]
    public async Task Requesters_come_most_active_first_with_the_waits_of_their_finished_operations(string? kbId, int top)
    {
        var query = new AnalyticsQuery(kbId, T0, T6);

        var requesters = await _analytics.GetRequesterWaitsAsync(query, top);

        var expected = Requested(query)
            .GroupBy(o => o.RequestedBy)
            .Select(g =>
            {
                var finished = g.Where(o => o.FinishedAt is not null).ToList();
                return new RequesterWaits(g.Key, g.Count(),
                    HistoryRows.PercentileCont(finished.Select(o => o.QueueWaitMs), 0.5),
                    HistoryRows.PercentileCont(finished.Select(o => o.QueueWaitMs), 0.95),
                    HistoryRows.PercentileCont(finished.Select(o => o.LockWaitMs), 0.5));
            })
            .OrderByDescending(r => r.Operations).ThenBy(r => r.RequestedBy, StringComparer.Ordinal)
            .Take(top)
            .ToList();
        Assert.Equal(expected.Count, requesters.Count);
        foreach (var (want, got) in expected.Zip(requesters))
        {
            Assert.Equal(want.RequestedBy, got.RequestedBy);
            Assert.Equal(want.Operations, got.Operations);
            AssertClose(want.QueueWaitP50Ms, got.QueueWaitP50Ms);
            AssertClose(want.QueueWaitP95Ms, got.QueueWaitP95Ms);
            AssertClose(want.LockWaitP50Ms, got.LockWaitP50Ms);
        }
    }

    [Fact]
    public async Task Requesters_with_as_many_operations_are_ranked_by_name()
    {
        await using var database = await CreateDatabaseAsync();
        var analytics = new OperationAnalytics(database.Factory());
        await SaveAsync(database,
        [
            Seed.Row("kb-q", "zed", OperationStatus.Succeeded, T0.AddSeconds(1), T0.AddSeconds(2), T0.AddSeconds(3)),
            Seed.Row("kb-q", "zed", OperationStatus.Succeeded, T0.AddSeconds(4), T0.AddSeconds(5), T0.AddSeconds(6)),
            Seed.Row("kb-q", "amy", OperationStatus.Succeeded, T0.AddSeconds(7), T0.AddSeconds(8), T0.AddSeconds(9)),
            Seed.Row("kb-q", "amy", OperationStatus.Succeeded, T0.AddSeconds(10), T0.AddSeconds(12), T0.AddSeconds(13)),
            Seed.Row("kb-q", "Bea", OperationStatus.Succeeded, T0.AddSeconds(14), T0.AddSeconds(15), T0.AddSeconds(16)),
        ]);
        var query = new AnalyticsQuery("kb-q", T0, T0.AddMinutes(1));

        var first = Assert.Single(await analytics.GetRequesterWaitsAsync(query, top: 1));
        var all = await analytics.GetRequesterWaitsAsync(query, top: 5);

        Assert.Equal(new RequesterWaits("amy", 2, 1500, 1950, 0), first);
        Assert.Equal(new[] { "amy", "zed", "Bea" }, all.Select(r => r.RequestedBy));
    }

    [Fact]
    public async Task A_requester_whose_operations_have_not_finished_has_no_waits()
    {
        var requesters = await _analytics.GetRequesterWaitsAsync(new AnalyticsQuery(null, T0, T6), top: 100);

        var waiting = Assert.Single(requesters, r => r.RequestedBy == "nobody-finished");
        Assert.Equal(2, waiting.Operations);
        Assert.Null(waiting.QueueWaitP50Ms);
        Assert.Null(waiting.LockWaitP50Ms);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("kb-b")]
    public async Task All_statistics_at_once_equal_each_statistic_asked_on_its_own(string? kbId)
    {
        var query = new AnalyticsQuery(kbId, T0, T6, TimeSpan.FromMinutes(30));

        var all = await _analytics.GetAllAsync(query, topRequesters: 5);

        Assert.Equal(kbId, all.KbId);
        Assert.Equal((T0, T6, TimeSpan.FromMinutes(30)), (all.Since, all.Until, all.Bucket));
        Assert.Equal(await _analytics.GetStatusCountsAsync(query), all.Statuses);
        Assert.Equal(await _analytics.GetWaitsAsync(query), all.Waits);
        Assert.Equal(await _analytics.GetStepDurationsAsync(query), all.Steps);
        Assert.Equal(await _analytics.GetThroughputAsync(query), all.Throughput);
        var queue = await _analytics.GetQueueContentionAsync(query);
        Assert.Equal((queue.PeakDepth, queue.PeakAt), (all.Queue.PeakDepth, all.Queue.PeakAt));
        Assert.Equal(queue.MeanDepth, all.Queue.MeanDepth, 1e-12);
        Assert.Equal(await _analytics.GetRequesterWaitsAsync(query, 5), all.Requesters);
        Assert.Equal(await _analytics.GetWaitsOverTimeAsync(query), all.WaitsOverTime);
        Assert.Equal(12, all.Throughput.Count);
        Assert.Equal(12, all.WaitsOverTime.Count);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("kb-with-no-operations")]
    public async Task A_range_with_no_operations_has_zero_counts_and_no_percentiles(string? kbId)
    {
        var since = kbId is null ? T0.AddDays(-10) : T0;
        var query = new AnalyticsQuery(kbId, since, since.AddHours(6), TimeSpan.FromHours(2));

        var all = await _analytics.GetAllAsync(query);

        Assert.Equal(StatusCounts.Zero, all.Statuses);
        var noWait = new WaitDistribution(0, null, null, null, null);
        Assert.Equal(new WaitStats(noWait, noWait), all.Waits);
        var noStep = new StepDistribution(0, null, null);
        Assert.Equal(new StepStats(noStep, noStep, noStep, noStep), all.Steps);
        Assert.Equal(
            new[]
            {
                new ThroughputBucket(since, since.AddHours(2), 0, 0, 0, 0, 0),
                new ThroughputBucket(since.AddHours(2), since.AddHours(4), 0, 0, 0, 0, 0),
                new ThroughputBucket(since.AddHours(4), since.AddHours(6), 0, 0, 0, 0, 0),
            },
            all.Throughput);
        Assert.Equal(new QueueContention(0, null, 0), all.Queue);
        Assert.Empty(all.Requesters);
        Assert.Equal(
            all.Throughput.Select(b => new WaitBucket(b.Start, b.End, 0, null, null, 0, null, null)),
            all.WaitsOverTime);
    }

    [Fact]
    public async Task Times_are_reported_in_utc_whatever_offset_they_were_asked_in()
    {
        var plusTwo = TimeSpan.FromHours(2);
        var query = new AnalyticsQuery(null, T0.ToOffset(plusTwo), T6.ToOffset(plusTwo), TimeSpan.FromHours(3));

        var all = await _analytics.GetAllAsync(query);

        Assert.Equal((T0, T6), (all.Since, all.Until));
        Assert.Equal(TimeSpan.Zero, all.Since.Offset);
        Assert.Equal(new[] { T0, T0.AddHours(3) }, all.Throughput.Select(b => b.Start));
        Assert.Equal(await _analytics.GetStatusCountsAsync(new AnalyticsQuery(null, T0, T6)), all.Statuses);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("kb-a")]
    public async Task An_exact_query_gives_percentile_cont_over_the_raw_rows(string? kbId)
    {
        var query = new AnalyticsQuery(kbId, T0, T6) { Exact = true };

        var all = await _analytics.GetAllAsync(query, topRequesters: 100);

        var finished = Requested(query).Where(o => o.FinishedAt is not null).ToList();
        AssertDistribution(finished.Select(o => o.QueueWaitMs), all.Waits.QueueWait, exact: true);
        AssertDistribution(finished.Select(o => o.LockWaitMs), all.Waits.LockWait, exact: true);
        AssertStep(finished.Select(o => o.PullMs), all.Steps.Pull, exact: true);
        AssertStep(finished.Select(o => o.PushMs), all.Steps.Push, exact: true);
        foreach (var requester in all.Requesters)
        {
            var own = finished.Where(o => o.RequestedBy == requester.RequestedBy).ToList();
            AssertClose(HistoryRows.PercentileCont(own.Select(o => o.QueueWaitMs), 0.95), requester.QueueWaitP95Ms, exact: true);
        }
    }

    /// <summary>
    /// Ranges whose ends fall inside minutes, hours and days, so that each figure is put together from
    /// day, hour and minute rollups and raw rows at both ends (and, with buckets of an hour or more, hours
    /// less their smaller side): everything but percentiles and maxima equals the exact answer over the raw rows.
    /// </summary>
    [Theory]
    [InlineData(null, 0, 360, null)]
    [InlineData(null, -17.25, 371.5, 7)]
    [InlineData("kb-a", 3.5, 300.1, 13)]
    [InlineData("kb-edge", -29, 389, null)]
    [InlineData(null, -17.25, 371.5, 60)] // buckets of an hour or more: a boundary's hour is read as its smaller side and the hour minus it
    [InlineData("kb-a", 3.5, 300.1, 90)]
    [InlineData(null, -41.5, 389, 75)] // the last bucket shares its hour with the range's end: that hour is read as it is
    [InlineData(null, -2622.5, 1873, 1440)] // day buckets: a boundary's day is read as its smaller side (its hours, and its part of the boundary's hour) and the day minus it
    [InlineData("kb-a", -1922.25, 1800.5, 1440)]
    public async Task Rollups_give_the_counts_throughput_queue_and_requesters_of_the_raw_rows(string? kbId, double fromMinutes, double toMinutes, int? bucketMinutes)
    {
        var query = new AnalyticsQuery(kbId, T0.AddMinutes(fromMinutes), T0.AddMinutes(toMinutes), bucketMinutes is { } b ? TimeSpan.FromMinutes(b) : null);
        await AssertRolledEqualsExactAsync(_analytics, query);
    }

    /// <summary>
    /// A range whose last part the builder has not sealed yet (operations of the last minutes and
    /// the next ones): the rollups answer up to the sealed end, the raw rows after it.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData("kb-a")]
    public async Task A_range_past_the_sealed_end_reads_its_tail_from_the_raw_rows(string? kbId)
    {
        await using var database = await CreateDatabaseAsync();
        var sealedTo = RollupGrains.Floor(DateTimeOffset.UtcNow, RollupGrains.Minute);
        var random = new Random(16);
        await SaveAsync(database, Enumerable.Range(0, 200)
            .Select(_ => Seed.Operation(random, sealedTo.AddMinutes(-40).AddMilliseconds(random.Next(70 * 60 * 1000)))).ToList());
        var analytics = new OperationAnalytics(database.Factory());
        var query = new AnalyticsQuery(kbId, sealedTo.AddMinutes(-45).AddSeconds(-7), sealedTo.AddMinutes(12), TimeSpan.FromMinutes(5));

        await using (var db = database.CreateContext())
        {
            var sealedUntil = await db.Database.SqlQueryRaw<DateTime>("SELECT sealed_until AS \"Value\" FROM rollup_state").SingleAsync();
            Assert.InRange(new DateTimeOffset(DateTime.SpecifyKind(sealedUntil, DateTimeKind.Utc)), query.Since.AddMinutes(1), query.Until.AddMinutes(-5));
        }

        await AssertRolledEqualsExactAsync(analytics, query);
    }

    private static async Task AssertRolledEqualsExactAsync(OperationAnalytics analytics, AnalyticsQuery query)
    {
        var rolled = await analytics.GetAllAsync(query, topRequesters: 100);
        var exact = await analytics.GetAllAsync(query with { Exact = true }, topRequesters: 100);

        Assert.Equal(exact.Statuses, rolled.Statuses);
        Assert.Equal((exact.Waits.QueueWait.Samples, exact.Waits.LockWait.Samples), (rolled.Waits.QueueWait.Samples, rolled.Waits.LockWait.Samples));
        AssertClose(exact.Waits.QueueWait.P95Ms, rolled.Waits.QueueWait.P95Ms);
        AssertClose(exact.Waits.LockWait.MaxMs, rolled.Waits.LockWait.MaxMs);
        Assert.Equal(exact.Steps.Commit.Samples, rolled.Steps.Commit.Samples);
        AssertClose(exact.Steps.Commit.P50Ms, rolled.Steps.Commit.P50Ms);
        Assert.Equal(exact.Throughput, rolled.Throughput);
        Assert.Equal(exact.WaitsOverTime.Select(b => (b.Start, b.End, b.QueueWaitSamples, b.LockWaitSamples)),
            rolled.WaitsOverTime.Select(b => (b.Start, b.End, b.QueueWaitSamples, b.LockWaitSamples)));
        foreach (var (want, got) in exact.WaitsOverTime.Zip(rolled.WaitsOverTime))
        {
            AssertClose(want.QueueWaitP95Ms, got.QueueWaitP95Ms);
            AssertClose(want.LockWaitP50Ms, got.LockWaitP50Ms);
        }

        Assert.Equal((exact.Queue.PeakDepth, exact.Queue.PeakAt), (rolled.Queue.PeakDepth, rolled.Queue.PeakAt));
        Assert.Equal(exact.Queue.MeanDepth, rolled.Queue.MeanDepth, 1e-9);
        Assert.Equal(exact.Requesters.Select(r => (r.RequestedBy, r.Operations)), rolled.Requesters.Select(r => (r.RequestedBy, r.Operations)));
        foreach (var (want, got) in exact.Requesters.Zip(rolled.Requesters))
        {
            AssertClose(want.QueueWaitP50Ms, got.QueueWaitP50Ms);
            AssertClose(want.QueueWaitP95Ms, got.QueueWaitP95Ms);
            AssertClose(want.LockWaitP50Ms, got.LockWaitP50Ms);
        }
    }

    [Theory]
    [MemberData(nameof(InvalidQueries))]
    public async Task An_invalid_query_is_refused_with_a_message_saying_what_is_wrong(AnalyticsQuery query, string message)
    {
        var refused = await Assert.ThrowsAnyAsync<ArgumentException>(() => _analytics.GetAllAsync(query));

        Assert.Contains(message, refused.Message);
    }

    public static TheoryData<AnalyticsQuery, string> InvalidQueries() => new()
    {
        { new AnalyticsQuery(null, T6, T0), "must be before until" },
        { new AnalyticsQuery(null, T0, T0), "must be before until" },
        { new AnalyticsQuery(null, T0, T0.AddDays(401)), "at most 400 days" },
        { new AnalyticsQuery(null, T0, T6, TimeSpan.FromSeconds(59)), "must be between 00:01:00 and 1.00:00:00" },
        { new AnalyticsQuery(null, T0, T6, TimeSpan.FromHours(25)), "must be between 00:01:00 and 1.00:00:00" },
        { new AnalyticsQuery(null, T0, T6, TimeSpan.FromSeconds(90.5)), "whole number of seconds" },
        { new AnalyticsQuery(null, T0, T0.AddDays(1), TimeSpan.FromMinutes(1)), "into 1440 buckets; at most 1000" },
        { new AnalyticsQuery("Not A KB", T0, T6), "is not a valid KB id" },
        { new AnalyticsQuery("", T0, T6), "is not a valid KB id" },
    };

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public async Task Asking_for_no_requesters_or_too_many_is_refused(int top)
    {
        var refused = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => _analytics.GetRequesterWaitsAsync(new AnalyticsQuery(null, T0, T6), top));

        Assert.Contains("between 1 and 100", refused.Message);
    }

    // ---- the same figures, worked out in C# ----

    private IEnumerable<OperationRecord> Of(string? kbId) => _seeded.Where(o => kbId is null || o.KbId == kbId);

    private IEnumerable<OperationRecord> Requested(AnalyticsQuery query) =>
        Of(query.KbId).Where(o => o.RequestedAt >= query.Since && o.RequestedAt < query.Until);

    /// <summary>
    /// Queue depth by brute force: the depth only changes where a request arrives or leaves the queue,
    /// so looking at Since and at every such instant inside the range finds the peak, and summing
    /// depth × duration between consecutive instants gives the integral.
    /// </summary>
    private static QueueContention BruteForceQueue(IEnumerable<OperationRecord> operations, DateTimeOffset since, DateTimeOffset until)
    {
        var spans = operations
            .Select(o => (Entered: o.RequestedAt, Left: o.StartedAt ?? o.FinishedAt ?? DateTimeOffset.MaxValue))
            .Where(s => s.Entered < s.Left)
            .ToList();
        int Depth(DateTimeOffset t) => spans.Count(s => s.Entered <= t && t < s.Left);

        var instants = spans.SelectMany(s => new[] { s.Entered, s.Left })
            .Where(t => t > since && t < until)
            .Append(since)
            .Distinct()
            .Order()
            .ToList();
        var depths = instants.Select(Depth).ToList();
        var peak = depths.Max();
        var integralSeconds = instants.Select((t, i) => depths[i] * ((i + 1 < instants.Count ? instants[i + 1] : until) - t).TotalSeconds).Sum();
        return new QueueContention(peak, peak == 0 ? null : instants[depths.IndexOf(peak)], integralSeconds / (until - since).TotalSeconds);
    }

    private static void AssertDistribution(IEnumerable<double?> values, WaitDistribution actual, bool exact = false)
    {
        var list = values.ToList();
        Assert.Equal(list.Count(v => v is not null), actual.Samples);
        AssertClose(HistoryRows.PercentileCont(list, 0.5), actual.P50Ms, exact);
        AssertClose(HistoryRows.PercentileCont(list, 0.95), actual.P95Ms, exact);
        AssertClose(HistoryRows.PercentileCont(list, 0.99), actual.P99Ms, exact);
        AssertClose(list.Max(), actual.MaxMs, exact);
    }

    private static void AssertStep(IEnumerable<double?> values, StepDistribution actual, bool exact = false)
    {
        var ran = values.Where(v => v > 0).ToList();
        Assert.Equal(ran.Count, actual.Samples);
        AssertClose(HistoryRows.PercentileCont(ran, 0.5), actual.P50Ms, exact);
        AssertClose(HistoryRows.PercentileCont(ran, 0.95), actual.P95Ms, exact);
    }

    /// <summary>
    /// Percentiles and maxima come from the rollups' histograms, within <see cref="LogHistogram.RelativeError"/> by
    /// design (values up to <see cref="LogHistogram.MinValueMs"/> count as 0); <paramref name="exact"/>: a query
    /// with <see cref="AnalyticsQuery.Exact"/>, equal to percentile_cont.
    /// </summary>
    private static void AssertClose(double? expected, double? actual, bool exact = false)
    {
        if (expected is null || actual is null)
        {
            Assert.Equal(expected, actual);
            return;
        }

        var tolerance = exact
            ? Math.Max(1e-9, Math.Abs(expected.Value) * 1e-12)
            : Math.Max(LogHistogram.MinValueMs, Math.Abs(expected.Value) * LogHistogram.RelativeError * (1 + 1e-9));
        Assert.Equal(expected.Value, actual.Value, tolerance);
    }

    /// <summary>
    /// A fresh database whose operations table autovacuum leaves alone: a few hundred inserted rows
    /// start an automatic ANALYZE, and the fixture's <c>DROP DATABASE ... WITH (FORCE)</c> fails when
    /// it meets an autovacuum worker (42501: the kbsync role may not terminate it; the fixture retries).
    /// <see cref="SaveAsync(TestDatabase, IEnumerable{OperationRecord})"/> analyzes instead, so plans
    /// are the ones real statistics give.
    /// </summary>
    private async Task<TestDatabase> CreateDatabaseAsync()
    {
        var database = await postgres.CreateDatabaseAsync();
        await using var db = database.CreateContext();
        await db.Database.ExecuteSqlRawAsync("ALTER TABLE operations SET (autovacuum_enabled = false)");
        return database;
    }

    private Task SaveAsync(IEnumerable<OperationRecord> operations) => SaveAsync(_database, operations);

    /// <summary>Saves the rows, then lets the rollup builder catch up (grace 0: every past minute is sealed), as a running system would have.</summary>
    private static async Task SaveAsync(TestDatabase database, IEnumerable<OperationRecord> operations)
    {
        await using var db = database.CreateContext();
        db.Operations.AddRange(operations);
        await db.SaveChangesAsync();
        await db.Database.ExecuteSqlRawAsync("ANALYZE operations");
        var builder = new RollupBuilder(database.Factory(), Options.Create(new RollupBuilderOptions { GraceSeconds = 0, BatchHours = 24 * 400 }), NullLogger<RollupBuilder>.Instance);
        await builder.CatchUpAsync();
    }

    /// <summary>
    /// A few hundred operations with known values around [T0, T0 + 6 h): three KBs of different
    /// sizes, skewed requesters, every status, waits of zero and long ones, a burst that piles up
    /// the queue, nothing finishing in [T0 + 3 h, T0 + 4 h), and rows on every boundary the queries
    /// have (KB <c>kb-edge</c>). Times are whole milliseconds, so PostgreSQL stores them exactly.
    /// </summary>
    private static class Seed
    {
        public const int BurstSize = 40;
        public static readonly DateTimeOffset BurstAt = T0.AddMinutes(90);

        private static readonly (string Name, double Weight)[] Requesters =
            [("alice", 30), ("bob", 20), ("carol", 15), ("dave", 10), ("erin", 10), ("bot-1", 10), ("frank", 5)];

        public static List<OperationRecord> Operations()
        {
            var random = new Random(20300301);
            var operations = new List<OperationRecord>();
            for (var i = 0; i < 300; i++)
            {
                // requested between T0 - 30 min and T0 + 6 h 30 min, but not in [T0 + 2 h 55 min, T0 + 4 h):
                // every operation finishes within 2 minutes, so nothing finishes in [T0 + 3 h, T0 + 4 h)
                DateTimeOffset requested;
                do
                {
                    requested = T0.AddMinutes(-30).AddMilliseconds(random.NextInt64(7 * 3600 * 1000L));
                }
                while (requested >= T0.AddMinutes(175) && requested < T0.AddHours(4));

                operations.Add(Random(random, requested, maxWaitMs: 60_000));
            }

            for (var i = 0; i < BurstSize; i++)
            {
                // a bot dumps 40 notes into kb-a within two seconds; each waits 0.5 to 30 seconds
                var requested = BurstAt.AddMilliseconds(random.Next(2000));
                var row = Random(random, requested, maxWaitMs: 0, kbId: "kb-a", requestedBy: "bot-1");
                Start(row, requested.AddMilliseconds(500 + random.Next(29_500)), random);
                operations.Add(row);
            }

            operations.AddRange(Edges());
            return operations;
        }

        private static IEnumerable<OperationRecord> Edges()
        {
            // requested exactly at T0: in the range, and queued at the instant T0
            yield return Row("kb-edge", "alice", OperationStatus.Succeeded, T0, T0.AddSeconds(10), T0.AddSeconds(12));
            // requested before T0, still queued at T0
            yield return Row("kb-edge", "bob", OperationStatus.Succeeded, T0.AddSeconds(-20), T0.AddSeconds(15), T0.AddSeconds(16));
            // arrives and another leaves at the same instant T0 + 1 min
            yield return Row("kb-edge", "carol", OperationStatus.Succeeded, T0.AddSeconds(50), T0.AddMinutes(1), T0.AddMinutes(1).AddSeconds(1));
            yield return Row("kb-edge", "dave", OperationStatus.Succeeded, T0.AddMinutes(1), T0.AddMinutes(1).AddSeconds(5), T0.AddMinutes(1).AddSeconds(6));
            // finishes exactly on the boundary T0 + 2 h
            yield return Row("kb-edge", "erin", OperationStatus.Failed, T0.AddHours(2).AddSeconds(-30), T0.AddHours(2).AddSeconds(-20), T0.AddHours(2));
            // started before it was requested (the producer's clock is ahead)
            yield return Row("kb-edge", "frank", OperationStatus.Succeeded, T0.AddMinutes(20), T0.AddMinutes(20).AddSeconds(-2), T0.AddMinutes(20).AddSeconds(1));
            // finishes exactly at T0 + 6 h: outside [T0, T0 + 6 h) for throughput
            yield return Row("kb-edge", "bob", OperationStatus.Duplicate, T6.AddSeconds(-10), T6.AddSeconds(-5), T6);
            // requested exactly at T0 + 6 h: outside [T0, T0 + 6 h)
            yield return Row("kb-edge", "alice", OperationStatus.Succeeded, T6, T6.AddSeconds(1), T6.AddSeconds(2));
            // never started, never finished: still queued at the end of any later range
            yield return Row("kb-b", "nobody-finished", OperationStatus.Queued, T0.AddHours(5), null, null);
            yield return Row("kb-b", "nobody-finished", OperationStatus.Running, T0.AddHours(5).AddMinutes(1), T0.AddHours(5).AddMinutes(2), null);
            // refused before it started
            yield return Row("kb-c", "carol", OperationStatus.Failed, T0.AddHours(1).AddSeconds(7), null, T0.AddHours(1).AddSeconds(9));
        }

        /// <summary>A row with the given times; waits and steps made up to match them.</summary>
        public static OperationRecord Row(string kbId, string requestedBy, OperationStatus status, DateTimeOffset requested, DateTimeOffset? started, DateTimeOffset? finished)
        {
            var row = HistoryRows.New(kbId, requestedBy, status, requested);
            row.StartedAt = started;
            row.QueueWaitMs = started is null ? null : Math.Max(0, (started.Value - requested).TotalMilliseconds);
            row.FinishedAt = finished;
            if (finished is not null)
            {
                var ran = (finished.Value - (started ?? finished.Value)).TotalMilliseconds;
                row.LockWaitMs = 0;
                row.PullMs = ran / 2;
                row.ProcessMs = ran / 4;
                row.CommitMs = status == OperationStatus.Succeeded ? ran / 8 : 0;
                row.PushMs = status == OperationStatus.Succeeded ? ran / 8 : 0;
            }

            return row;
        }

        /// <summary>One operation requested at <paramref name="requested"/>, of any status, waiting up to a minute.</summary>
        public static OperationRecord Operation(Random random, DateTimeOffset requested) => Random(random, requested, maxWaitMs: 60_000);

        private static OperationRecord Random(Random random, DateTimeOffset requested, int maxWaitMs, string? kbId = null, string? requestedBy = null)
        {
            var roll = random.NextDouble();
            var status = roll switch
            {
                < 0.75 => OperationStatus.Succeeded,
                < 0.83 => OperationStatus.Duplicate,
                < 0.91 => OperationStatus.Failed,
                < 0.95 => OperationStatus.TimedOut,
                < 0.98 => OperationStatus.Running,
                _ => OperationStatus.Queued,
            };
            kbId ??= random.NextDouble() switch { < 0.6 => "kb-a", < 0.9 => "kb-b", _ => "kb-c" };
            requestedBy ??= Pick(random);
            var row = HistoryRows.New(kbId, requestedBy, status, requested);
            if (status != OperationStatus.Queued)
            {
                // a fifth are taken at once; the rest wait a lognormal-ish time, in whole milliseconds
                var waitMs = random.NextDouble() < 0.2 ? 0 : Math.Min(maxWaitMs, Math.Round(200 * Math.Exp(1.5 * Normal(random))));
                Start(row, requested.AddMilliseconds(waitMs), random);
            }

            return row;
        }

        /// <summary>Starts a row at <paramref name="started"/> and, unless it is still running, finishes it with made-up step times.</summary>
        private static void Start(OperationRecord row, DateTimeOffset started, Random random)
        {
            row.StartedAt = started;
            row.QueueWaitMs = (started - row.RequestedAt).TotalMilliseconds;
            if (row.Status is OperationStatus.Running or OperationStatus.Queued)
            {
                row.Status = OperationStatus.Running;
                return;
            }

            row.LockWaitMs = random.NextDouble() < 0.3 ? 0 : Math.Round(random.NextDouble() * 2000, 3);
            row.PullMs = 20 + Math.Round(random.NextDouble() * 800, 3);
            row.ProcessMs = 1 + Math.Round(random.NextDouble() * 30, 3);
            row.CommitMs = 2 + Math.Round(random.NextDouble() * 60, 3);
            row.PushMs = 50 + Math.Round(random.NextDouble() * 1500, 3);
            switch (row.Status)
            {
                case OperationStatus.Duplicate:
                    row.CommitMs = row.PushMs = 0;
                    break;
                case OperationStatus.Failed:
                    // failed at a random step: the steps after it never ran
                    var failedAt = random.Next(4);
                    if (failedAt < 3) { row.PushMs = 0; }
                    if (failedAt < 2) { row.CommitMs = 0; }
                    if (failedAt < 1) { row.ProcessMs = 0; }
                    row.ErrorCode = ReasonCodes.InternalError;
                    break;
                case OperationStatus.TimedOut:
                    row.LockWaitMs = 30_000 + Math.Round(random.NextDouble() * 30_000);
                    row.PullMs = row.ProcessMs = row.CommitMs = row.PushMs = 0;
                    row.ErrorCode = ReasonCodes.TimedOut;
                    break;
            }

            var ranMs = row.LockWaitMs!.Value + row.PullMs!.Value + row.ProcessMs!.Value + row.CommitMs!.Value + row.PushMs!.Value;
            row.FinishedAt = started.AddMilliseconds(Math.Ceiling(ranMs));
        }

        private static string Pick(Random random)
        {
            var roll = random.NextDouble() * Requesters.Sum(r => r.Weight);
            foreach (var (name, weight) in Requesters)
            {
                if ((roll -= weight) < 0)
                {
                    return name;
                }
            }

            return Requesters[^1].Name;
        }

        private static double Normal(Random random) =>
            Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
    }
}

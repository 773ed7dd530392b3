using KbSync.Contracts;

namespace KbSync.Persistence.Analytics.Rollups;

/// <summary>
/// The figures of <see cref="OperationAnalytics"/> from the rollups: each range is cut into whole
/// buckets (<see cref="RollupCover"/>), read as a few rows each, and the parts at its ends shorter
/// than a bucket are read from the history itself, as are the operations still queued or running
/// (the rollups hold finished ones only). Counts, throughput and queue depths come out exactly as the
/// SQL over the raw rows gives them; percentiles and maxima within <see cref="LogHistogram.RelativeError"/>
/// (exact while no bucket is whole, see <see cref="Distribution"/>).
/// </summary>
/// <remarks>
/// Grains read per figure: the figures over the whole range (counts, waits, steps) hours and days,
/// so at most an hour of history is read raw at each end; the per-bucket figures (throughput, waits
/// over time) and the queue depth add minutes over every KB (per KB there are none: hours are the
/// finest, and the raw rows of up to an hour at each end are read); the requesters hours and days
/// over every KB, days per KB (per-KB hours per requester would be about one row per operation).
/// Everything after the rollups' sealed end (<see cref="RollupSession.SealedUntil"/>) is read raw.
/// </remarks>
internal sealed class RollupStatistics(RollupSession session)
{
    private static readonly int[] Coarse = [RollupGrains.Day, RollupGrains.Hour];
    private static readonly int[] Days = [RollupGrains.Day];

    private List<RawOperation>? _open;

    /// <summary>Minutes are kept over every KB only (per KB they would be about a row per operation): per KB, hours are the finest.</summary>
    private int[] Grains => session.AllKbs ? [RollupGrains.Day, RollupGrains.Hour, RollupGrains.Minute] : Coarse;

    private int Finest => Grains[^1];

    public AnalyticsWindow Window => session.Window;

    public RollupSession Session => session;

    /// <summary>Operations queued or running now, requested before the range's end: none of them is in a rollup.</summary>
    private async Task<List<RawOperation>> OpenAsync(CancellationToken cancellationToken) =>
        _open ??= await RollupReads.ReadOpenAsync(session, Window.Until, cancellationToken);

    private bool InRange(DateTimeOffset at) => at >= Window.Since && at < Window.Until;

    /// <summary>Statuses, waits and step durations: everything keyed by <c>requested_at</c> over the whole range.</summary>
    public async Task<(StatusCounts Statuses, WaitStats Waits, StepStats Steps)> ReadRangeAsync(CancellationToken cancellationToken)
    {
        var pieces = Cover(Window.Since, Window.Until, Coarse);
        var rows = await RollupReads.ReadCoarseAsync(session, pieces.Where(p => !p.IsRaw), cancellationToken);
        var rawRanges = RawRanges(pieces);
        var raw = await RollupReads.ReadRequestedAsync(session, rawRanges, cancellationToken);

        long succeeded = 0, duplicate = 0, failed = 0, timedOut = 0;
        var (queue, locks, pull, process, commit, push) = (new Distribution(), new Distribution(), new Distribution(), new Distribution(), new Distribution(), new Distribution());
        foreach (var row in rows)
        {
            (succeeded, duplicate, failed, timedOut) = (succeeded + row.Succeeded, duplicate + row.Duplicate, failed + row.Failed, timedOut + row.TimedOut);
            queue.Merge(row.QueueWait);
            locks.Merge(row.LockWait);
            pull.Merge(row.Pull);
            process.Merge(row.Process);
            commit.Merge(row.Commit);
            push.Merge(row.Push);
        }

        foreach (var operation in raw)
        {
            switch (operation.Status)
            {
                case OperationStatus.Succeeded: succeeded++; break;
                case OperationStatus.Duplicate: duplicate++; break;
                case OperationStatus.Failed: failed++; break;
                default: timedOut++; break;
            }

            if (operation.HasFinished)
            {
                queue.Add(operation.QueueWaitMs);
                locks.Add(operation.LockWaitMs);
                pull.Add(Ran(operation.PullMs));
                process.Add(Ran(operation.ProcessMs));
                commit.Add(Ran(operation.CommitMs));
                push.Add(Ran(operation.PushMs));
            }
        }

        var open = (await OpenAsync(cancellationToken)).Where(o => InRange(o.RequestedAt)).ToList();
        var statuses = new StatusCounts(
            open.Count(o => o.Status == OperationStatus.Queued), open.Count(o => o.Status == OperationStatus.Running),
            succeeded, duplicate, failed, timedOut);
        var waits = new WaitStats(Wait(queue), Wait(locks));
        var steps = new StepStats(Step(pull), Step(process), Step(commit), Step(push));
        return (statuses, waits, steps);
    }

    /// <summary>
    /// Throughput (by <c>finished_at</c>) and waits over time (by <c>requested_at</c>) in every bucket of the window.
    /// Buckets start at <c>since</c>, so most boundaries fall inside an hour; the two sides of such an hour
    /// belong to two buckets. With buckets of an hour or more, only the smaller side is read (its minutes
    /// and raw rows) and the other is the hour's row minus it: histograms and counts subtract exactly. Half
    /// the rows at most, a quarter on average. Where that gives a negative count (a change logged in those
    /// minutes and not applied yet, so the hour and its minutes disagree for a moment) every side is read
    /// as it is instead.
    /// </summary>
    public async Task<(IReadOnlyList<ThroughputBucket> Throughput, IReadOnlyList<WaitBucket> Waits)> ReadPerBucketAsync(CancellationToken cancellationToken)
    {
        var split = await ReadPerBucketAsync(splitHours: Window.Bucket >= TimeSpan.FromHours(1), cancellationToken);
        return split ?? (await ReadPerBucketAsync(splitHours: false, cancellationToken))!.Value;
    }

    /// <summary>null: a bucket came out negative (only with <paramref name="splitHours"/>).</summary>
    private async Task<(IReadOnlyList<ThroughputBucket> Throughput, IReadOnlyList<WaitBucket> Waits)?> ReadPerBucketAsync(bool splitHours, CancellationToken cancellationToken)
    {
        var window = Window;
        var parts = PerBucketParts(splitHours);
        var tagged = new List<(int Tag, RollupPiece Piece)>();
        var rawRanges = new List<(int Tag, DateTimeOffset From, DateTimeOffset To)>();
        foreach (var (part, tag) in parts.Select((p, i) => (p, i)))
        {
            foreach (var piece in part.Pieces)
            {
                if (piece.IsRaw)
                {
                    rawRanges.Add((tag, piece.Start, piece.End));
                }
                else
                {
                    tagged.Add((tag, piece));
                }
            }
        }

        var rows = await RollupReads.ReadPerBucketAsync(session, tagged, cancellationToken);
        var raw = await RollupReads.ReadRawAsync(session, rawRanges.Select(r => (r.From, r.To)).ToList(), cancellationToken);

        var counts = new long[window.BucketCount, 4];
        var queue = Enumerable.Range(0, window.BucketCount).Select(_ => new Distribution()).ToArray();
        var locks = Enumerable.Range(0, window.BucketCount).Select(_ => new Distribution()).ToArray();
        foreach (var row in rows)
        {
            foreach (var (bucket, sign) in parts[row.Tag].Targets)
            {
                counts[bucket, 0] += sign * row.FinishedSucceeded;
                counts[bucket, 1] += sign * row.FinishedDuplicate;
                counts[bucket, 2] += sign * row.FinishedFailed;
                counts[bucket, 3] += sign * row.FinishedTimedOut;
                queue[bucket].Merge(row.QueueWait, sign);
                locks[bucket].Merge(row.LockWait, sign);
            }
        }

        foreach (var operation in raw.Where(o => o.IsFinal))
        {
            if (operation.FinishedAt is { } finished && RawBucket(rawRanges, finished) is { } f)
            {
                foreach (var (bucket, sign) in parts[f].Targets)
                {
                    counts[bucket, Outcome(operation.Status)] += sign;
                }
            }

            if (operation.HasFinished && RawBucket(rawRanges, operation.RequestedAt) is { } r)
            {
                foreach (var (bucket, sign) in parts[r].Targets)
                {
                    queue[bucket].Add(operation.QueueWaitMs, sign);
                    locks[bucket].Add(operation.LockWaitMs, sign);
                }
            }
        }

        var throughput = new List<ThroughputBucket>(window.BucketCount);
        var waits = new List<WaitBucket>(window.BucketCount);
        for (var i = 0; i < window.BucketCount; i++)
        {
            var (s, d, f, t) = (counts[i, 0], counts[i, 1], counts[i, 2], counts[i, 3]);
            if (s < 0 || d < 0 || f < 0 || t < 0 || queue[i].HasNegativeCounts || locks[i].HasNegativeCounts)
            {
                return null;
            }

            throughput.Add(new ThroughputBucket(window.BucketStart(i), window.BucketEnd(i), s + d + f + t, s, d, f, t));
            waits.Add(new WaitBucket(window.BucketStart(i), window.BucketEnd(i),
                queue[i].Count, queue[i].Percentile(0.5), queue[i].Percentile(0.95),
                locks[i].Count, locks[i].Percentile(0.5), locks[i].Percentile(0.95)));
        }

        return (throughput, waits);
    }

    /// <summary>
    /// What the per-bucket figures read: parts of the range, each the rollup pieces and raw ranges of one
    /// interval, added to (sign 1) or taken from (sign -1) the buckets it names. Without
    /// <paramref name="splitHours"/>, each bucket is one part. With it, a boundary inside a sealed day (or
    /// hour) that holds no other boundary splits that day (hour) in two sides, one per bucket (a side
    /// outside the range belongs to none): the smaller side is read and added to its bucket and taken
    /// from the other's, and the day's (hour's) row is added to the other's. A side is read as its whole
    /// hours and, at the boundary, its part of the boundary's hour, itself split the same way; the rest
    /// of each bucket is one part.
    /// </summary>
    private List<PerBucketPart> PerBucketParts(bool splitHours)
    {
        var window = Window;
        var parts = new List<PerBucketPart>();
        void Add(DateTimeOffset from, DateTimeOffset to, IEnumerable<(int Bucket, int Sign)> targets)
        {
            var into = targets.Where(t => t.Bucket >= 0).ToArray();
            if (from < to && into.Length > 0)
            {
                parts.Add(new PerBucketPart(Cover(from, to, Grains), into));
            }
        }

        void AddRow(int grain, DateTimeOffset start, IEnumerable<(int Bucket, int Sign)> targets)
        {
            var into = targets.Where(t => t.Bucket >= 0).ToArray();
            if (into.Length > 0)
            {
                parts.Add(new PerBucketPart([new RollupPiece(grain, start, start.AddSeconds(grain))], into));
            }
        }

        static IEnumerable<(int Bucket, int Sign)> Negated(IEnumerable<(int Bucket, int Sign)> targets) => targets.Select(t => (t.Bucket, -t.Sign));

        // the side of t (left: before it) inside t's bucket of the grain: read as it is when it is the smaller side, else as the row minus the other side
        void Side(int grain, DateTimeOffset t, bool left, IEnumerable<(int Bucket, int Sign)> targets)
        {
            var (start, end) = (RollupGrains.Floor(t, grain), RollupGrains.Ceiling(t, grain));
            if (left != (t - start <= end - t))
            {
                AddRow(grain, start, targets);
                Side(grain, t, !left, Negated(targets).ToList());
                return;
            }

            if (grain == RollupGrains.Hour)
            {
                Add(left ? start : t, left ? t : end, targets);
                return;
            }

            // a day's side: its whole hours, then its part of t's hour
            Add(left ? start : RollupGrains.Ceiling(t, RollupGrains.Hour), left ? RollupGrains.Floor(t, RollupGrains.Hour) : end, targets);
            if (!RollupGrains.IsAligned(t, RollupGrains.Hour))
            {
                Side(RollupGrains.Hour, t, left, targets);
            }
        }

        var boundaries = Enumerable.Range(0, window.BucketCount).Select(window.BucketStart).Append(window.Until).ToArray();
        int SplitGrain(int k)
        {
            foreach (var grain in (int[])[RollupGrains.Day, RollupGrains.Hour])
            {
                var (start, end) = (RollupGrains.Floor(boundaries[k], grain), RollupGrains.Ceiling(boundaries[k], grain));
                if (splitHours && start < boundaries[k] && end <= session.SealedUntil && window.Bucket >= TimeSpan.FromSeconds(grain)
                    && (k == 0 || boundaries[k - 1] <= start) && (k == boundaries.Length - 1 || boundaries[k + 1] >= end))
                {
                    return grain;
                }
            }

            return 0;
        }

        var splits = Enumerable.Range(0, boundaries.Length).Select(SplitGrain).ToArray();
        for (var k = 0; k < boundaries.Length; k++)
        {
            if (splits[k] != 0)
            {
                var (t, grain) = (boundaries[k], splits[k]);
                var (before, after) = (k - 1, k < window.BucketCount ? k : -1); // -1: outside the range
                var leftIsSmaller = t - RollupGrains.Floor(t, grain) <= RollupGrains.Ceiling(t, grain) - t;
                var (small, other) = leftIsSmaller ? (before, after) : (after, before);
                AddRow(grain, RollupGrains.Floor(t, grain), [(other, 1)]);
                Side(grain, t, leftIsSmaller, [(small, 1), (other, -1)]);
            }
        }

        for (var i = 0; i < window.BucketCount; i++)
        {
            var from = splits[i] != 0 ? RollupGrains.Ceiling(boundaries[i], splits[i]) : boundaries[i];
            var to = splits[i + 1] != 0 ? RollupGrains.Floor(boundaries[i + 1], splits[i + 1]) : boundaries[i + 1];
            Add(from, to, [(i, 1)]);
        }

        return parts;
    }

    /// <summary>
    /// The <paramref name="top"/> requesters by operations requested in the range (any status; ties by
    /// name, ordinal), with the waits of their finished ones. Counts are exact; the waits of the top
    /// requesters only are then read, per requester, from <c>requester_waits</c>.
    /// </summary>
    public async Task<IReadOnlyList<RequesterWaits>> ReadRequestersAsync(int top, CancellationToken cancellationToken)
    {
        var pieces = Cover(Window.Since, Window.Until, session.AllKbs ? Coarse : Days);
        var rollupPieces = pieces.Where(p => !p.IsRaw).ToList();
        var rawRanges = RawRanges(pieces);
        var counts = rollupPieces.Count == 0
            ? new Dictionary<string, long>(StringComparer.Ordinal)
            : await RollupReads.ReadRequesterCountsAsync(session, rollupPieces, cancellationToken);
        foreach (var (name, count) in await RollupReads.ReadRequesterCountsRawAsync(session, rawRanges, cancellationToken))
        {
            counts[name] = counts.GetValueOrDefault(name) + count;
        }

        foreach (var open in (await OpenAsync(cancellationToken)).Where(o => InRange(o.RequestedAt)))
        {
            counts[open.RequestedBy] = counts.GetValueOrDefault(open.RequestedBy) + 1;
        }

        var chosen = counts.Where(c => c.Value > 0)
            .OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal)
            .Take(top).ToList();
        var names = chosen.Select(c => c.Key).ToList();
        var waits = names.ToDictionary(n => n, _ => (Queue: new Distribution(), Lock: new Distribution()), StringComparer.Ordinal);
        if (names.Count > 0 && rollupPieces.Count > 0)
        {
            foreach (var (name, queue, locks) in await RollupReads.ReadRequesterWaitsAsync(session, rollupPieces, names, cancellationToken))
            {
                waits[name].Queue.Merge(queue);
                waits[name].Lock.Merge(locks);
            }
        }

        foreach (var (name, queue, locks) in await RollupReads.ReadRequesterWaitsRawAsync(session, rawRanges, names, cancellationToken))
        {
            waits[name].Queue.Add(queue);
            waits[name].Lock.Add(locks);
        }

        return chosen.Select(c => new RequesterWaits(
            c.Key, c.Value, waits[c.Key].Queue.Percentile(0.5), waits[c.Key].Queue.Percentile(0.95), waits[c.Key].Lock.Percentile(0.5))).ToList();
    }

    /// <summary>
    /// Peak and mean queue depth (<see cref="QueueContention"/>), exactly. The depth just before the
    /// range starts comes from the rollups' arrivals minus exits before it; the range is cut into
    /// buckets, each of which keeps in <c>peak_bound</c> exactly how far the queue rises inside it over
    /// its depth just before it (minutes over every KB and hours per KB from the raw events when they
    /// are built, coarser buckets from their parts). So the peak is known from the buckets alone, except
    /// where operations still open add arrivals (a bound there). Buckets that may hold the peak (bound
    /// above the best depth known to occur, or equal to it and no later than where it first occurs) are
    /// cut into finer ones, down to the raw events of a minute (an hour per KB), until none is left:
    /// usually one path from a day to the minute where the peak first occurs. The mean needs no search:
    /// the integral of the depth over a bucket follows from its counts and the offsets of its events.
    /// </summary>
    public async Task<QueueContention> ReadQueueAsync(CancellationToken cancellationToken)
    {
        var (since, until) = (Window.Since, Window.Until);
        var openEvents = (await OpenAsync(cancellationToken)).SelectMany(OpenEvents).OrderBy(e => e.At).ToList();

        // the balance before the range: rollups up to a whole minute no later than the sealed end, raw events from there
        var firstMinute = RollupGrains.Floor(since, Finest);
        var balanceEnd = session.SealedUntil < firstMinute ? RollupGrains.Floor(session.SealedUntil, Finest) : firstMinute;
        var before = session.SealedUntil == DateTimeOffset.MinValue
            ? 0
            : await RollupReads.ReadQueueBalanceBeforeAsync(session, balanceEnd, cancellationToken);
        var cover = Cover(since, until, Grains);
        var rawRanges = RawRanges(cover);
        if (balanceEnd < since)
        {
            rawRanges.Add((balanceEnd, since));
        }

        var rawEvents = FinishedEvents(await RollupReads.ReadRawAsync(session, rawRanges, cancellationToken)).ToList();
        before += rawEvents.Where(e => e.At >= balanceEnd && e.At < since).Sum(e => e.Delta);
        before += openEvents.Where(e => e.At < since).Sum(e => e.Delta);

        var segments = new List<QueueSegment>();
        foreach (var piece in cover)
        {
            if (piece.IsRaw)
            {
                segments.Add(QueueSegment.Exact(piece.Start, piece.End, rawEvents.Concat(openEvents)));
            }
            else
            {
                for (var start = piece.Start; start < piece.End; start = start.AddSeconds(piece.Grain))
                {
                    segments.Add(new QueueSegment(piece.Grain, start, start.AddSeconds(piece.Grain)));
                }
            }
        }

        await FillCountsAsync(segments.Where(s => !s.IsExact).ToList(), openEvents, cancellationToken);
        while (true)
        {
            var (peak, firstReach) = Bounds(segments, before);
            var candidates = segments.Where(s => !s.IsExact && (s.Upper > peak || (peak > 0 && s.Upper == peak && s.Start <= firstReach!.Start))).ToList();
            if (candidates.Count == 0)
            {
                var mean = segments.Sum(s => s.IntegralMs) / (until - since).TotalMilliseconds;
                return new QueueContention(peak, peak > 0 ? firstReach!.PeakAt : null, mean);
            }

            // each candidate is replaced by its finer buckets, minutes by their raw events
            var finer = new List<QueueSegment>();
            var minutes = candidates.Where(c => c.Grain == Finest).Select(c => (c.Start, c.End)).ToList();
            var minuteEvents = FinishedEvents(await RollupReads.ReadRawAsync(session, minutes, cancellationToken)).Concat(openEvents).ToList();
            var replaced = new Dictionary<QueueSegment, List<QueueSegment>>();
            foreach (var candidate in candidates)
            {
                var children = new List<QueueSegment>();
                if (candidate.Grain == Finest)
                {
                    children.Add(QueueSegment.Exact(candidate.Start, candidate.End, minuteEvents));
                }
                else
                {
                    var grain = candidate.Grain == RollupGrains.Day ? RollupGrains.Hour : RollupGrains.Minute;
                    for (var start = candidate.Start; start < candidate.End; start = start.AddSeconds(grain))
                    {
                        var child = new QueueSegment(grain, start, start.AddSeconds(grain));
                        children.Add(child);
                        finer.Add(child);
                    }
                }

                replaced[candidate] = children;
            }

            await FillCountsAsync(finer, openEvents, cancellationToken);
            segments = segments.SelectMany(s => replaced.TryGetValue(s, out var children) ? children : [s]).ToList();
        }
    }

    /// <summary>Each segment's depth before it, bounds and integral, in order; the best depth known to occur and the first segment where it does.</summary>
    private static (long Peak, QueueSegment? FirstReach) Bounds(List<QueueSegment> segments, long initial)
    {
        var depth = initial;
        foreach (var segment in segments)
        {
            segment.Settle(depth);
            depth = segment.After;
        }

        var peak = segments.Max(s => s.Reached);
        return (peak, segments.First(s => s.Reached >= peak));
    }

    private async Task FillCountsAsync(List<QueueSegment> segments, List<QueueEvent> openEvents, CancellationToken cancellationToken)
    {
        if (segments.Count == 0)
        {
            return;
        }

        var pieces = segments.Select(s => new RollupPiece(s.Grain, s.Start, s.End)).ToList();
        var rows = (await RollupReads.ReadQueueCountsAsync(session, pieces, cancellationToken)).ToDictionary(r => (r.Grain, r.Start));
        foreach (var segment in segments)
        {
            if (rows.TryGetValue((segment.Grain, segment.Start), out var row))
            {
                segment.AddCounts(row.Arrivals, row.Exits, row.ArrivalOffsetMs, row.ExitOffsetMs);
                segment.AddRise(row.PeakBound, exact: row.PeakIsExact);
            }

            foreach (var open in openEvents.Where(e => e.At >= segment.Start && e.At < segment.End))
            {
                var offset = (open.At - segment.Start).TotalMilliseconds;
                if (open.Delta > 0)
                {
                    segment.AddCounts(1, 0, offset, 0);
                    segment.AddRise(1, exact: false);
                }
                else
                {
                    segment.AddCounts(0, 1, 0, offset);
                }
            }
        }
    }

    /// <summary>The queue events of finished operations, as the rollups count them: an arrival and an exit for each one that waited.</summary>
    private static IEnumerable<QueueEvent> FinishedEvents(IEnumerable<RawOperation> operations)
    {
        foreach (var operation in operations.Where(o => o.IsFinal))
        {
            if (operation.LeftQueueAt is { } left)
            {
                yield return new QueueEvent(operation.RequestedAt, 1);
                yield return new QueueEvent(left, -1);
            }
        }
    }

    /// <summary>A queued operation arrived and has not left; a running one arrived and left when it started (if after its request).</summary>
    private static IEnumerable<QueueEvent> OpenEvents(RawOperation operation)
    {
        if (operation.WasQueued)
        {
            yield return new QueueEvent(operation.RequestedAt, 1);
        }

        if (operation.LeftQueueAt is { } left)
        {
            yield return new QueueEvent(left, -1);
        }
    }

    /// <summary>
    /// <see cref="RollupCover.Of"/> over the part of [<paramref name="from"/>, <paramref name="to"/>) the
    /// rollups hold (before <see cref="RollupSession.SealedUntil"/>), and the rest as one raw part.
    /// </summary>
    private List<RollupPiece> Cover(DateTimeOffset from, DateTimeOffset to, IReadOnlyList<int>? grains = null)
    {
        var sealedUntil = session.SealedUntil;
        var pieces = sealedUntil > from
            ? RollupCover.Of(from, sealedUntil < to ? sealedUntil : to, grains).ToList()
            : [];
        var unsealedFrom = sealedUntil > from ? sealedUntil : from;
        if (unsealedFrom < to)
        {
            pieces.Add(new RollupPiece(0, unsealedFrom, to));
        }

        return pieces;
    }

    private static List<(DateTimeOffset From, DateTimeOffset To)> RawRanges(IEnumerable<RollupPiece> pieces) =>
        pieces.Where(p => p.IsRaw).Select(p => (p.Start, p.End)).ToList();

    private static int? RawBucket(List<(int Tag, DateTimeOffset From, DateTimeOffset To)> ranges, DateTimeOffset at)
    {
        foreach (var range in ranges)
        {
            if (at >= range.From && at < range.To)
            {
                return range.Tag;
            }
        }

        return null;
    }

    private static int Outcome(OperationStatus status) => status switch
    {
        OperationStatus.Succeeded => 0,
        OperationStatus.Duplicate => 1,
        OperationStatus.Failed => 2,
        _ => 3,
    };

    /// <summary>A step the worker recorded as 0 (or not at all) did not run and is left out.</summary>
    private static double? Ran(double? ms) => ms > 0 ? ms : null;

    private static WaitDistribution Wait(Distribution values) =>
        new(values.Count, values.Percentile(0.5), values.Percentile(0.95), values.Percentile(0.99), values.Max());

    private static StepDistribution Step(Distribution values) => new(values.Count, values.Percentile(0.5), values.Percentile(0.95));
}

/// <summary>A change of the queue's depth at an instant: +1 an arrival, -1 an exit.</summary>
internal readonly record struct QueueEvent(DateTimeOffset At, int Delta);

/// <summary>
/// A part of the queue-depth search: a rollup bucket known by its counts (<see cref="Grain"/> &gt; 0),
/// or a part whose events are all known (<see cref="IsExact"/>).
/// </summary>
internal sealed class QueueSegment(int grain, DateTimeOffset start, DateTimeOffset end)
{
    private List<QueueEvent>? _events;
    private long _arrivals;
    private long _exits;
    private double _arrivalOffsetMs;
    private double _exitOffsetMs;
    private long _rise;
    private bool _riseIsBound;

    public int Grain { get; } = grain;
    public DateTimeOffset Start { get; } = start;
    public DateTimeOffset End { get; } = end;
    public bool IsExact => _events is not null;

    /// <summary>Depth just after the segment's last instant (just before <see cref="End"/>).</summary>
    public long After { get; private set; }

    /// <summary>Most the depth can be inside: before + the rise (exact segments: the peak itself).</summary>
    public long Upper { get; private set; }

    /// <summary>A depth that certainly occurs inside: before + an exact rise above 0, else the depth at its end (exact segments: the peak).</summary>
    public long Reached { get; private set; }

    /// <summary>Exact segments: the first instant <see cref="Reached"/> occurs.</summary>
    public DateTimeOffset? PeakAt { get; private set; }

    /// <summary>∫ depth dt over the segment, in ms.</summary>
    public double IntegralMs { get; private set; }

    public static QueueSegment Exact(DateTimeOffset start, DateTimeOffset end, IEnumerable<QueueEvent> events) =>
        new(0, start, end) { _events = events.Where(e => e.At >= start && e.At < end).OrderBy(e => e.At).ToList() };

    /// <summary>
    /// How far the depth rises inside the bucket over its depth just before it: the stored rise of its
    /// finished operations (exact), plus one for each arrival of an open operation (a bound only: the
    /// stored rise did not see it).
    /// </summary>
    public void AddRise(long rise, bool exact)
    {
        _rise += rise;
        _riseIsBound |= !exact;
    }

    public void AddCounts(long arrivals, long exits, double arrivalOffsetMs, double exitOffsetMs)
    {
        _arrivals += arrivals;
        _exits += exits;
        _arrivalOffsetMs += arrivalOffsetMs;
        _exitOffsetMs += exitOffsetMs;
    }

    /// <summary>Works out the figures above from the depth just before <see cref="Start"/>.</summary>
    public void Settle(long before)
    {
        var lengthMs = (End - Start).TotalMilliseconds;
        if (_events is null)
        {
            After = before + _arrivals - _exits;
            Upper = before + _rise;
            Reached = _rise > 0 && !_riseIsBound ? Upper : After; // an exact rise above 0 is reached inside; else only the end's depth is sure
            IntegralMs = before * lengthMs + (_arrivals * lengthMs - _arrivalOffsetMs) - (_exits * lengthMs - _exitOffsetMs);
            return;
        }

        // the depth at Start (events at Start included), then after each instant holding events
        var depth = before;
        var integral = before * lengthMs;
        var (peak, peakAt) = (long.MinValue, Start);
        var i = 0;
        var instant = Start;
        while (true)
        {
            while (i < _events.Count && _events[i].At == instant)
            {
                depth += _events[i].Delta;
                integral += _events[i].Delta * (End - instant).TotalMilliseconds;
                i++;
            }

            if (depth > peak)
            {
                (peak, peakAt) = (depth, instant);
            }

            if (i >= _events.Count)
            {
                break;
            }

            instant = _events[i].At;
        }

        (After, Upper, Reached, PeakAt, IntegralMs) = (depth, peak, peak, peakAt, integral);
    }
}

/// <summary>Part of the per-bucket reads: its rollup pieces and raw ranges, and the buckets it is added to (sign 1) or taken from (-1).</summary>
internal sealed record PerBucketPart(IReadOnlyList<RollupPiece> Pieces, (int Bucket, int Sign)[] Targets);

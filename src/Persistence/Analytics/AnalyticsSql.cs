namespace KbSync.Persistence.Analytics;

/// <summary>
/// The statements behind <see cref="OperationAnalytics"/>. Parameters: <c>@kb</c> (text, only in the
/// per-KB variant), <c>@kbs</c> (text[], only in the KB-set variant), <c>@since</c> and <c>@until</c> (timestamptz), <c>@bucket</c> (an interval with
/// neither days nor months, so bucket arithmetic ignores the session time zone), <c>@buckets</c>
/// (int), <c>@slot</c> (an interval like <c>@bucket</c>) and <c>@top</c> (int). Each statement
/// exists three times, with <c>{kb}</c> replaced by <c>o.kb_id = @kb</c>, by
/// <c>o.kb_id = ANY(@kbs)</c> or by <c>TRUE</c>: a constant of this file, never user input, so that
/// each variant gets a plan that uses the right index (the single-KB one stays an equality).
/// </summary>
internal static class AnalyticsSql
{
    /// <summary>Operations requested in the range, by status.</summary>
    public static readonly Variants StatusCounts = new("""
        SELECT o.status, count(*)
        FROM operations o
        WHERE {kb} AND o.requested_at >= @since AND o.requested_at < @until
        GROUP BY o.status
        """);

    /// <summary>Queue and lock wait of the finished operations requested in the range.</summary>
    public static readonly Variants Waits = new("""
        SELECT queue_samples, queue_p[1], queue_p[2], queue_p[3], queue_max,
               lock_samples, lock_p[1], lock_p[2], lock_p[3], lock_max
        FROM (
            SELECT count(o.queue_wait_ms) AS queue_samples,
                   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY o.queue_wait_ms) AS queue_p,
                   max(o.queue_wait_ms) AS queue_max,
                   count(o.lock_wait_ms) AS lock_samples,
                   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY o.lock_wait_ms) AS lock_p,
                   max(o.lock_wait_ms) AS lock_max
            FROM operations o
            WHERE {kb} AND o.requested_at >= @since AND o.requested_at < @until AND o.finished_at IS NOT NULL
        ) w
        """);

    /// <summary>
    /// Two steps' durations over the finished operations requested in the range that ran them
    /// (recorded value above 0). Two statements cover the four steps, so that their sorts can run on
    /// two connections at once (<see cref="OperationAnalytics"/>).
    /// </summary>
    public static readonly Variants StepsPullProcess = StepPair("pull_ms", "process_ms");

    /// <inheritdoc cref="StepsPullProcess"/>
    public static readonly Variants StepsCommitPush = StepPair("commit_ms", "push_ms");

    /// <summary><paramref name="first"/> and <paramref name="second"/> are column names of this file, never input.</summary>
    private static Variants StepPair(string first, string second) => new($$"""
        SELECT first_n, first_p[1], first_p[2], second_n, second_p[1], second_p[2]
        FROM (
            SELECT count(*) FILTER (WHERE o.{{first}} > 0) AS first_n,
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.{{first}}) FILTER (WHERE o.{{first}} > 0) AS first_p,
                   count(*) FILTER (WHERE o.{{second}} > 0) AS second_n,
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.{{second}}) FILTER (WHERE o.{{second}} > 0) AS second_p
            FROM operations o
            WHERE {kb} AND o.requested_at >= @since AND o.requested_at < @until AND o.finished_at IS NOT NULL
        ) s
        """);

    /// <summary>
    /// Operations finished in each bucket, by outcome. The buckets come from <c>generate_series</c>
    /// so that empty ones are listed; finished operations fall into them by <c>date_bin</c> with
    /// <c>@since</c> as origin, which gives exactly the same bucket starts.
    /// </summary>
    public static readonly Variants Throughput = new("""
        WITH finished AS (
            SELECT date_bin(@bucket, o.finished_at, @since) AS bucket_start,
                   count(*) FILTER (WHERE o.status = 'succeeded') AS succeeded,
                   count(*) FILTER (WHERE o.status = 'duplicate') AS duplicate,
                   count(*) FILTER (WHERE o.status = 'failed') AS failed,
                   count(*) FILTER (WHERE o.status = 'timed_out') AS timed_out
            FROM operations o
            WHERE {kb} AND o.finished_at >= @since AND o.finished_at < @until
            GROUP BY 1
        )
        SELECT b.k, coalesce(f.succeeded, 0), coalesce(f.duplicate, 0), coalesce(f.failed, 0), coalesce(f.timed_out, 0)
        FROM generate_series(0, @buckets - 1) AS b(k)
        LEFT JOIN finished f ON f.bucket_start = @since + b.k * @bucket
        ORDER BY b.k
        """);

    /// <summary>
    /// Queue wait p50 and p95 of the finished operations requested in each bucket, every bucket
    /// listed (as for <see cref="Throughput"/>, but binned by <c>requested_at</c>). Lock waits are
    /// the same statement on <c>lock_wait_ms</c> (<see cref="LockWaitsOverTime"/>): each percentile
    /// sorts its bucket's rows, so the two run at the same time on two connections.
    /// </summary>
    public static readonly Variants QueueWaitsOverTime = new(WaitsOverTime("queue_wait_ms"));

    /// <summary>Lock wait p50 and p95 per bucket: see <see cref="QueueWaitsOverTime"/>.</summary>
    public static readonly Variants LockWaitsOverTime = new(WaitsOverTime("lock_wait_ms"));

    private static string WaitsOverTime(string column) => $"""
        WITH waits AS (
            SELECT date_bin(@bucket, o.requested_at, @since) AS bucket_start,
                   count(o.{column}) AS n,
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.{column}) AS p
            FROM operations o
            WHERE {"{kb}"} AND o.requested_at >= @since AND o.requested_at < @until AND o.finished_at IS NOT NULL
            GROUP BY 1
        )
        SELECT b.k, coalesce(w.n, 0), w.p[1], w.p[2]
        FROM generate_series(0, @buckets - 1) AS b(k)
        LEFT JOIN waits w ON w.bucket_start = @since + b.k * @bucket
        ORDER BY b.k
        """;

    /// <summary>
    /// Queue depth (see <see cref="QueueContention"/>). An operation is in the queue on
    /// [<c>requested_at</c>, <c>coalesce(started_at, finished_at, 'infinity')</c>); the depth at an
    /// instant is the initial depth at <c>@since</c> plus the arrivals (+1) and exits (-1) up to and
    /// including that instant.
    /// <para>
    /// <b>Peak</b>, exactly, without sorting every event of a long range. A plain sweep (all events
    /// ordered by time, running sum) is correct but sorts two rows per operation: about 2 s for
    /// 1,000,000 operations. Instead:
    /// </para>
    /// <list type="number">
    /// <item><c>slots</c>: the range is cut into slots of <c>@slot</c> (about 20,000 of them) and
    /// arrivals and exits are counted per slot: plain hash aggregates, no sort of events. The two
    /// counts are separate statements (<see cref="QueueArrivals"/>, <see cref="QueueExits"/>) run at
    /// the same time on two connections in one snapshot; <see cref="QueueDepth"/> does the rest.</item>
    /// <item><c>bounds</c>: running sums over the (non-empty) slots give each slot's depth just
    /// before it (<c>before</c>) and at its end (<c>after</c>). Inside a slot the depth never exceeds
    /// <c>before + arrived</c>, and it is exactly <c>after</c> for the last part of the slot.</item>
    /// <item><c>lower_bound</c>: the largest <c>after</c> (or the initial depth) is a depth that
    /// really occurred, so the peak is at least that. Only slots whose upper bound exceeds it, or
    /// reaches it no later than the first slot where it occurred (for the peak's first instant),
    /// can hold the peak: the <c>candidates</c>, usually a handful (the bursts).</item>
    /// <item><c>swept</c>: an exact sweep over the events of the candidate slots only, each slot
    /// starting from its <c>before</c>, plus one row at each slot's start so the depth at that
    /// instant is seen too. The default RANGE frame counts every event at one instant together, so
    /// each running sum is a depth that really occurred at that instant.</item>
    /// </list>
    /// <para>
    /// The largest swept depth is the peak and the earliest instant holding it the peak's time. When
    /// no slot stands out (a steady queue), most slots are candidates and this costs about what the
    /// plain sweep does; it is never less exact.
    /// </para>
    /// <para>
    /// <b>Mean</b>: the depth's integral over the range is the time each operation spent queued inside
    /// the range, summed (by <see cref="QueueArrivals"/> for those requested in the range, in the same
    /// scan that counts them; in <c>queued_before</c> for those still queued at <c>@since</c>); divided by the range's length.
    /// </para>
    /// <para>
    /// Operations still queued at <c>@since</c> are found as <c>started_at &gt; @since</c> (or, for the
    /// few that never started, through <c>started_at IS NULL</c>) so that the index on
    /// <c>started_at</c> finds them without scanning all earlier history.
    /// </para>
    /// <para><see cref="QueueArrivals"/> itself: arrivals per slot and the time each spent queued in the range.</para>
    /// </summary>
    public static readonly Variants QueueArrivals = new("""
        SELECT date_bin(@slot, o.requested_at, @since) AS slot,
               count(*) FILTER (WHERE o.requested_at > @since) AS arrived,
               sum(date_part('epoch', least(coalesce(o.started_at, o.finished_at, 'infinity'), @until) - o.requested_at)) AS queued_seconds
        FROM operations o
        WHERE {kb} AND o.requested_at >= @since AND o.requested_at < @until
          AND o.requested_at < coalesce(o.started_at, o.finished_at, 'infinity')
        GROUP BY 1
        """);

    /// <summary>Queue exits per slot: a worker took the operation, or it finished without ever starting. See <see cref="QueueDepth"/>.</summary>
    public static readonly Variants QueueExits = new("""
        SELECT slot, sum(departed)::bigint
        FROM (
            SELECT date_bin(@slot, o.started_at, @since) AS slot, count(*) AS departed
            FROM operations o
            WHERE {kb} AND o.started_at > @since AND o.started_at < @until AND o.requested_at < o.started_at
            GROUP BY 1
            UNION ALL
            SELECT date_bin(@slot, o.finished_at, @since), count(*)
            FROM operations o
            WHERE {kb} AND o.started_at IS NULL AND o.finished_at > @since AND o.finished_at < @until
              AND o.requested_at < o.finished_at
            GROUP BY 1
        ) exits
        GROUP BY slot
        """);

    /// <summary>
    /// The peak and mean from the slot counts of <see cref="QueueArrivals"/> (<c>@arrival_slots</c>,
    /// <c>@arrivals</c>, <c>@arrivals_queued_seconds</c>) and <see cref="QueueExits"/>
    /// (<c>@exit_slots</c>, <c>@exits</c>), which run first, at the same time, on two connections.
    /// </summary>
    public static readonly Variants QueueDepth = new("""
        WITH initial AS (
            SELECT (SELECT count(*) FROM operations o
                    WHERE {kb} AND o.requested_at <= @since AND o.started_at > @since)
                 + (SELECT count(*) FROM operations o
                    WHERE {kb} AND o.started_at IS NULL AND o.requested_at <= @since
                      AND coalesce(o.finished_at, 'infinity') > @since) AS depth
        ),
        slots AS (
            SELECT slot, sum(arrived)::bigint AS arrived, sum(departed)::bigint AS departed
            FROM (
                SELECT a.slot, a.n AS arrived, 0::bigint AS departed FROM unnest(@arrival_slots, @arrivals) AS a(slot, n)
                UNION ALL
                SELECT e.slot, 0, e.n FROM unnest(@exit_slots, @exits) AS e(slot, n)
                UNION ALL
                SELECT @since, 0, 0
            ) counted
            GROUP BY slot
        ),
        bounds AS MATERIALIZED (
            SELECT s.slot, s.arrived,
                   (i.depth + sum(s.arrived - s.departed) OVER w - (s.arrived - s.departed))::bigint AS before,
                   (i.depth + sum(s.arrived - s.departed) OVER w)::bigint AS after
            FROM slots s CROSS JOIN initial i
            WINDOW w AS (ORDER BY s.slot)
        ),
        lower_bound AS MATERIALIZED (
            SELECT greatest(max(b.after), max(i.depth)) AS depth
            FROM bounds b CROSS JOIN initial i
        ),
        first_reach AS MATERIALIZED (
            SELECT CASE WHEN max(i.depth) >= max(l.depth) THEN @since
                        ELSE min(b.slot) FILTER (WHERE b.after >= l.depth) END AS slot
            FROM bounds b CROSS JOIN lower_bound l CROSS JOIN initial i
        ),
        candidates AS (
            SELECT b.slot, b.before
            FROM bounds b CROSS JOIN lower_bound l CROSS JOIN first_reach f
            WHERE b.before + b.arrived > l.depth OR (b.before + b.arrived = l.depth AND b.slot <= f.slot)
        ),
        swept AS (
            SELECT e.at, (c.before + sum(e.delta) OVER (PARTITION BY c.slot ORDER BY e.at))::bigint AS depth
            FROM candidates c
            CROSS JOIN LATERAL (
                SELECT c.slot AS at, 0 AS delta
                UNION ALL
                SELECT o.requested_at, 1
                FROM operations o
                WHERE {kb} AND o.requested_at >= c.slot AND o.requested_at < c.slot + @slot
                  AND o.requested_at > @since AND o.requested_at < @until
                  AND o.requested_at < coalesce(o.started_at, o.finished_at, 'infinity')
                UNION ALL
                SELECT o.started_at, -1
                FROM operations o
                WHERE {kb} AND o.started_at >= c.slot AND o.started_at < c.slot + @slot
                  AND o.started_at > @since AND o.started_at < @until AND o.requested_at < o.started_at
                UNION ALL
                SELECT o.finished_at, -1
                FROM operations o
                WHERE {kb} AND o.started_at IS NULL AND o.finished_at >= c.slot AND o.finished_at < c.slot + @slot
                  AND o.finished_at > @since AND o.finished_at < @until AND o.requested_at < o.finished_at
            ) e
        ),
        peak AS (
            SELECT depth, at FROM swept ORDER BY depth DESC, at LIMIT 1
        ),
        queued_before AS (
            SELECT least(o.started_at, @until) - @since AS span
            FROM operations o
            WHERE {kb} AND o.requested_at < @since AND o.started_at > @since
            UNION ALL
            SELECT least(coalesce(o.finished_at, 'infinity'), @until) - @since
            FROM operations o
            WHERE {kb} AND o.started_at IS NULL AND o.requested_at < @since
              AND coalesce(o.finished_at, 'infinity') > @since
        )
        SELECT peak.depth, peak.at,
               (@arrivals_queued_seconds + (SELECT coalesce(sum(date_part('epoch', q.span)), 0) FROM queued_before q))
                   / date_part('epoch', @until - @since)
        FROM peak
        """);

    /// <summary>
    /// The <c>@top</c> requesters with the most operations requested in the range (ties by name,
    /// byte order), then the waits of their finished operations. Counting first and sorting waits
    /// only for those requesters keeps the percentile sorts small.
    /// </summary>
    public static readonly Variants Requesters = new("""
        WITH top AS (
            SELECT o.requested_by, count(*) AS operations
            FROM operations o
            WHERE {kb} AND o.requested_at >= @since AND o.requested_at < @until
            GROUP BY o.requested_by
            ORDER BY count(*) DESC, o.requested_by COLLATE "C"
            LIMIT @top
        )
        SELECT requested_by, operations, queue_p[1], queue_p[2], lock_p50
        FROM (
            SELECT t.requested_by, t.operations,
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.queue_wait_ms) AS queue_p,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY o.lock_wait_ms) AS lock_p50
            FROM top t
            LEFT JOIN operations o ON o.requested_by = t.requested_by AND {kb}
                 AND o.requested_at >= @since AND o.requested_at < @until AND o.finished_at IS NOT NULL
            GROUP BY t.requested_by, t.operations
        ) r
        ORDER BY operations DESC, requested_by COLLATE "C"
        """);

    /// <summary>A statement for one KB, for a set of KBs and for all KBs.</summary>
    public sealed class Variants(string template)
    {
        public string ForKb { get; } = template.Replace("{kb}", "o.kb_id = @kb", StringComparison.Ordinal);
        public string ForKbSet { get; } = template.Replace("{kb}", "o.kb_id = ANY(@kbs)", StringComparison.Ordinal);
        public string ForAll { get; } = template.Replace("{kb}", "TRUE", StringComparison.Ordinal);

        public string For(AnalyticsWindow window) => window.KbId is not null ? ForKb : window.KbSet is not null ? ForKbSet : ForAll;
    }
}

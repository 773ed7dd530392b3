namespace KbSync.Persistence.Analytics;

/// <summary>
/// The statements behind <see cref="OperationAnalytics"/>. Parameters: <c>@kb</c> (text, only in the
/// per-KB variant), <c>@since</c> and <c>@until</c> (timestamptz), <c>@bucket</c> (an interval with
/// neither days nor months, so bucket arithmetic ignores the session time zone), <c>@buckets</c>
/// (int) and <c>@top</c> (int). Each statement exists twice, with <c>{kb}</c> replaced by
/// <c>o.kb_id = @kb</c> or by <c>TRUE</c>: a constant of this file, never user input, so each
/// variant gets a plan that uses the right index.
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

    /// <summary>Each step's duration over the finished operations requested in the range that ran it (recorded value above 0).</summary>
    public static readonly Variants Steps = new("""
        SELECT pull_n, pull_p[1], pull_p[2], process_n, process_p[1], process_p[2],
               commit_n, commit_p[1], commit_p[2], push_n, push_p[1], push_p[2]
        FROM (
            SELECT count(*) FILTER (WHERE o.pull_ms > 0) AS pull_n,
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.pull_ms) FILTER (WHERE o.pull_ms > 0) AS pull_p,
                   count(*) FILTER (WHERE o.process_ms > 0) AS process_n,
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.process_ms) FILTER (WHERE o.process_ms > 0) AS process_p,
                   count(*) FILTER (WHERE o.commit_ms > 0) AS commit_n,
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.commit_ms) FILTER (WHERE o.commit_ms > 0) AS commit_p,
                   count(*) FILTER (WHERE o.push_ms > 0) AS push_n,
                   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY o.push_ms) FILTER (WHERE o.push_ms > 0) AS push_p
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
    /// Queue depth (see <see cref="QueueContention"/>): an operation leaves the queue at
    /// <c>coalesce(started_at, finished_at, 'infinity')</c>.
    /// <para>
    /// Peak: an event sweep. <c>events</c> holds +1 at each <c>requested_at</c> inside
    /// (since, until), -1 at each queue exit inside (since, until), and one row at <c>since</c>
    /// carrying the depth at that instant (operations requested at or before it and leaving after
    /// it). The running sum ordered by time, with the default RANGE frame so that every event at
    /// the same instant is counted together, is the depth at each event's instant; its largest
    /// value is the peak and the earliest instant holding it is the peak's time.
    /// </para>
    /// <para>
    /// Mean: the depth's integral over the range is the time each operation spent queued inside the
    /// range, summed; divided by the range's length.
    /// </para>
    /// <para>
    /// Operations still queued at <c>since</c> are found as <c>started_at &gt; since</c> (or, for the
    /// few that never started, through <c>started_at IS NULL</c>) so that an index on
    /// <c>started_at</c> can find them without scanning all earlier history.
    /// </para>
    /// </summary>
    public static readonly Variants Queue = new("""
        WITH events AS (
            SELECT o.requested_at AS at, 1 AS delta
            FROM operations o
            WHERE {kb} AND o.requested_at > @since AND o.requested_at < @until
              AND o.requested_at < coalesce(o.started_at, o.finished_at, 'infinity')
            UNION ALL
            SELECT o.started_at, -1
            FROM operations o
            WHERE {kb} AND o.started_at > @since AND o.started_at < @until AND o.requested_at < o.started_at
            UNION ALL
            SELECT o.finished_at, -1
            FROM operations o
            WHERE {kb} AND o.started_at IS NULL AND o.finished_at > @since AND o.finished_at < @until
              AND o.requested_at < o.finished_at
            UNION ALL
            SELECT @since, count(*)::int
            FROM operations o
            WHERE {kb} AND o.requested_at <= @since AND o.started_at > @since
            UNION ALL
            SELECT @since, count(*)::int
            FROM operations o
            WHERE {kb} AND o.started_at IS NULL AND o.requested_at <= @since
              AND coalesce(o.finished_at, 'infinity') > @since
        ),
        peak AS (
            SELECT depth, at
            FROM (SELECT at, sum(delta) OVER (ORDER BY at) AS depth FROM events) swept
            ORDER BY depth DESC, at
            LIMIT 1
        ),
        queued AS (
            SELECT least(coalesce(o.started_at, o.finished_at, 'infinity'), @until) - o.requested_at AS span
            FROM operations o
            WHERE {kb} AND o.requested_at >= @since AND o.requested_at < @until
              AND o.requested_at < coalesce(o.started_at, o.finished_at, 'infinity')
            UNION ALL
            SELECT least(o.started_at, @until) - @since
            FROM operations o
            WHERE {kb} AND o.requested_at < @since AND o.started_at > @since
            UNION ALL
            SELECT least(coalesce(o.finished_at, 'infinity'), @until) - @since
            FROM operations o
            WHERE {kb} AND o.started_at IS NULL AND o.requested_at < @since
              AND coalesce(o.finished_at, 'infinity') > @since
        )
        SELECT peak.depth, peak.at,
               (SELECT coalesce(sum(date_part('epoch', span)), 0) FROM queued) / date_part('epoch', @until - @since)
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

    /// <summary>A statement for one KB and for all KBs.</summary>
    public sealed class Variants(string template)
    {
        public string ForKb { get; } = template.Replace("{kb}", "o.kb_id = @kb", StringComparison.Ordinal);
        public string ForAll { get; } = template.Replace("{kb}", "TRUE", StringComparison.Ordinal);

        public string For(string? kbId) => kbId is null ? ForAll : ForKb;
    }
}

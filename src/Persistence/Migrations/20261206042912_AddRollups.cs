using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KbSync.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class AddRollups : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "operation_rollups",
                columns: table => new
                {
                    kb_id = table.Column<string>(type: "character varying(40)", maxLength: 40, nullable: false),
                    grain_seconds = table.Column<int>(type: "integer", nullable: false),
                    bucket_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    requested = table.Column<int>(type: "integer", nullable: false),
                    arrivals = table.Column<int>(type: "integer", nullable: false),
                    exits = table.Column<int>(type: "integer", nullable: false),
                    finished_succeeded = table.Column<int>(type: "integer", nullable: false),
                    finished_duplicate = table.Column<int>(type: "integer", nullable: false),
                    finished_failed = table.Column<int>(type: "integer", nullable: false),
                    finished_timed_out = table.Column<int>(type: "integer", nullable: false),
                    queue_wait_bins = table.Column<int?[]>(type: "integer[]", nullable: true),
                    lock_wait_bins = table.Column<int?[]>(type: "integer[]", nullable: true),
                    succeeded = table.Column<int>(type: "integer", nullable: true),
                    duplicate = table.Column<int>(type: "integer", nullable: true),
                    failed = table.Column<int>(type: "integer", nullable: true),
                    timed_out = table.Column<int>(type: "integer", nullable: true),
                    agent_tasks = table.Column<int>(type: "integer", nullable: true),
                    arrival_offset_ms = table.Column<double>(type: "double precision", nullable: false),
                    exit_offset_ms = table.Column<double>(type: "double precision", nullable: false),
                    peak_bound = table.Column<int>(type: "integer", nullable: true),
                    queue_wait_sum_ms = table.Column<double>(type: "double precision", nullable: true),
                    lock_wait_sum_ms = table.Column<double>(type: "double precision", nullable: true),
                    pull_sum_ms = table.Column<double>(type: "double precision", nullable: true),
                    process_sum_ms = table.Column<double>(type: "double precision", nullable: true),
                    commit_sum_ms = table.Column<double>(type: "double precision", nullable: true),
                    push_sum_ms = table.Column<double>(type: "double precision", nullable: true),
                    pull_bins = table.Column<int?[]>(type: "integer[]", nullable: true),
                    process_bins = table.Column<int?[]>(type: "integer[]", nullable: true),
                    commit_bins = table.Column<int?[]>(type: "integer[]", nullable: true),
                    push_bins = table.Column<int?[]>(type: "integer[]", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_operation_rollups", x => new { x.kb_id, x.grain_seconds, x.bucket_start });
                });

            migrationBuilder.CreateTable(
                name: "requester_rollups",
                columns: table => new
                {
                    kb_id = table.Column<string>(type: "character varying(40)", maxLength: 40, nullable: false),
                    grain_seconds = table.Column<int>(type: "integer", nullable: false),
                    bucket_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    requesters = table.Column<string[]>(type: "text[]", nullable: false),
                    operations = table.Column<int[]>(type: "integer[]", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_requester_rollups", x => new { x.kb_id, x.grain_seconds, x.bucket_start });
                });

            migrationBuilder.CreateTable(
                name: "requester_waits",
                columns: table => new
                {
                    kb_id = table.Column<string>(type: "character varying(40)", maxLength: 40, nullable: false),
                    grain_seconds = table.Column<int>(type: "integer", nullable: false),
                    requested_by = table.Column<string>(type: "text", nullable: false),
                    bucket_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    finished = table.Column<int>(type: "integer", nullable: false),
                    queue_wait_bins = table.Column<int?[]>(type: "integer[]", nullable: true),
                    lock_wait_bins = table.Column<int?[]>(type: "integer[]", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_requester_waits", x => new { x.kb_id, x.grain_seconds, x.requested_by, x.bucket_start });
                });

            migrationBuilder.Sql(HistogramFunctions);
            migrationBuilder.Sql(ApplyFunction);
            migrationBuilder.Sql(Backfill);
            migrationBuilder.Sql(Triggers);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DROP TRIGGER operations_rollups_insert ON operations;
                DROP TRIGGER operations_rollups_update ON operations;
                DROP TRIGGER operations_rollups_delete ON operations;
                DROP TRIGGER operations_rollups_truncate ON operations;
                DROP FUNCTION kbsync_rollups_on_insert();
                DROP FUNCTION kbsync_rollups_on_update();
                DROP FUNCTION kbsync_rollups_on_delete();
                DROP FUNCTION kbsync_rollups_on_truncate();
                DROP FUNCTION kbsync_rollups_backfill();
                DROP FUNCTION kbsync_rollups_apply(kbsync_rollup_operation[], kbsync_rollup_operation[]);
                DROP TYPE kbsync_rollup_operation;
                DROP FUNCTION kbsync_requesters_add(text[], integer[], text[], integer[]);
                DROP FUNCTION kbsync_hist_of(integer[], integer[]);
                DROP FUNCTION kbsync_hist_of_many(integer[], integer[]);
                DROP FUNCTION kbsync_hist_add(integer[], integer[]);
                DROP FUNCTION kbsync_hist_bin(double precision);
                """);

            migrationBuilder.DropTable(
                name: "operation_rollups");

            migrationBuilder.DropTable(
                name: "requester_rollups");

            migrationBuilder.DropTable(
                name: "requester_waits");
        }
            /// <summary>
        /// The histogram helpers. <c>kbsync_hist_bin</c> is <c>LogHistogram.BinOf</c> (Analytics/Rollups): bin 0 up to
        /// 1 µs, then one bin per factor γ = 1.01 / 0.99, so a bin's value is within 1 % of everything in it; NaN and
        /// values past 10^14 ms go to bin 4000. The constant is <c>LogHistogram.LnGamma</c> written with all its digits,
        /// so both compute the same double. A histogram is an <c>int[]</c> whose subscripts are bins (lower bound: the
        /// lowest bin used; empty bins NULL, one bit each). <c>kbsync_hist_add</c> adds one into another (counts may be
        /// negative: removing operations); <c>kbsync_hist_of</c> makes one from bins and counts, one element without a
        /// loop (most minute rows of a KB hold one or two operations).
        /// </summary>
        private const string HistogramFunctions = """
            CREATE FUNCTION kbsync_hist_bin(value_ms double precision) RETURNS integer
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT CASE WHEN value_ms IS NULL THEN NULL
                            WHEN value_ms <= 0.001 THEN 0
                            ELSE least(4000, ceil(ln(value_ms / 0.001) / 0.020000666706669435))::integer END
            $$;

            CREATE FUNCTION kbsync_hist_add(histogram integer[], other integer[]) RETURNS integer[]
            LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
            DECLARE
                bin integer;
                total bigint;
                low integer;
                high integer;
                trimmed integer[] := '{}';
            BEGIN
                IF other IS NULL OR cardinality(other) = 0 THEN
                    RETURN histogram;
                END IF;
                histogram := coalesce(histogram, '{}');
                FOR bin IN array_lower(other, 1) .. array_upper(other, 1) LOOP
                    IF other[bin] <> 0 THEN
                        total := coalesce(histogram[bin], 0) + other[bin];
                        histogram[bin] := CASE WHEN total = 0 THEN NULL ELSE total END;
                    END IF;
                END LOOP;
                IF histogram[array_lower(histogram, 1)] IS NOT NULL AND histogram[array_upper(histogram, 1)] IS NOT NULL THEN
                    RETURN histogram;
                END IF;
                -- operations taken out emptied an end: keep the bounds at the lowest and highest bins used (NULL: none)
                SELECT min(b), max(b) INTO low, high
                FROM generate_subscripts(histogram, 1) AS b WHERE histogram[b] IS NOT NULL;
                IF low IS NULL THEN
                    RETURN NULL;
                END IF;
                FOR bin IN low .. high LOOP
                    trimmed[bin] := histogram[bin];
                END LOOP;
                RETURN trimmed;
            END
            $$;

            CREATE FUNCTION kbsync_hist_of_many(bins integer[], counts integer[]) RETURNS integer[]
            LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
            DECLARE
                histogram integer[] := '{}';
                i integer;
            BEGIN
                FOR i IN 1 .. cardinality(bins) LOOP
                    histogram[bins[i]] := coalesce(histogram[bins[i]], 0) + counts[i];
                END LOOP;
                RETURN histogram;
            END
            $$;

            CREATE FUNCTION kbsync_hist_of(bins integer[], counts integer[]) RETURNS integer[]
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT CASE WHEN bins IS NULL OR cardinality(bins) = 0 THEN NULL
                            WHEN cardinality(bins) = 1 THEN array_fill(counts[1], ARRAY[1], ARRAY[bins[1]])
                            ELSE kbsync_hist_of_many(bins, counts) END
            $$;

            -- adds requesters' counts (the second pair) into a bucket's (the first pair), by name; drops those left at 0
            CREATE FUNCTION kbsync_requesters_add(
                requesters text[], operations integer[], more_requesters text[], more_operations integer[],
                OUT requesters_out text[], OUT operations_out integer[])
            LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
            DECLARE
                i integer;
                at integer;
                emptied boolean := false;
            BEGIN
                FOR i IN 1 .. coalesce(cardinality(more_requesters), 0) LOOP
                    at := array_position(requesters, more_requesters[i]);
                    IF at IS NULL THEN
                        requesters := requesters || more_requesters[i];
                        operations := operations || more_operations[i];
                        at := cardinality(requesters);
                    ELSE
                        operations[at] := operations[at] + more_operations[i];
                    END IF;
                    emptied := emptied OR operations[at] = 0;
                END LOOP;

                IF emptied THEN
                    SELECT coalesce(array_agg(r ORDER BY k), '{}'), coalesce(array_agg(o ORDER BY k), '{}')
                    INTO requesters, operations
                    FROM unnest(requesters, operations) WITH ORDINALITY AS e(r, o, k)
                    WHERE o <> 0;
                END IF;

                requesters_out := requesters;
                operations_out := operations;
            END
            $$;

            -- the columns of operations the rollups read: what the triggers hand over (never the result or error texts)
            CREATE TYPE kbsync_rollup_operation AS (
                kb_id text, kind text, status text, requested_by text,
                requested_at timestamp with time zone, started_at timestamp with time zone, finished_at timestamp with time zone,
                queue_wait_ms double precision, lock_wait_ms double precision,
                pull_ms double precision, process_ms double precision, commit_ms double precision, push_ms double precision);
            """;

        /// <summary>
        /// Adds the finished operations of <c>added</c> to the rollups and subtracts those of <c>removed</c>, in one
        /// upsert per table whose rows are taken in key order, so two statements finishing operations at once wait for
        /// each other's rows rather than deadlock. Every figure goes to the bucket of its own time at each grain, for
        /// the operation's KB (unless its KB id is empty) and for every KB (<c>kb_id = ''</c>): requested, status, kind,
        /// waits and steps by <c>requested_at</c>; throughput by <c>finished_at</c>; queue arrivals by
        /// <c>requested_at</c> and exits by the time it left the queue (<c>coalesce(started_at, finished_at)</c>, when
        /// after the request), with their offsets in the bucket for the mean queue depth. Rows left with nothing are
        /// deleted.
        /// </summary>
        private const string ApplyFunction = """
            CREATE FUNCTION kbsync_rollups_apply(removed kbsync_rollup_operation[], added kbsync_rollup_operation[]) RETURNS void
            LANGUAGE plpgsql AS $$
            DECLARE
                emptied_kbs text[];
                coarse_kbs text[];
                coarse_grains integer[];
                coarse_starts timestamp with time zone[];
                emptied_grains integer[];
                emptied_starts timestamp with time zone[];
                emptied_wait_kbs text[];
                emptied_wait_grains integer[];
                emptied_wait_names text[];
                emptied_wait_starts timestamp with time zone[];
            BEGIN
                WITH changed AS (
                    SELECT -1 AS sign, r.* FROM unnest(removed) r WHERE r.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                    UNION ALL
                    SELECT 1, a.* FROM unnest(added) a WHERE a.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                ),
                events AS (
                    SELECT s.kb_id, g.grain_seconds, e.event,
                           date_bin(g.step, e.at, timestamptz 'epoch') AS bucket_start,
                           extract(epoch FROM e.at - date_bin(g.step, e.at, timestamptz 'epoch'))::double precision * 1000 AS offset_ms,
                           c.sign, c.status, c.kind, c.finished_at IS NOT NULL AS finished,
                           c.requested_at < coalesce(c.started_at, c.finished_at) AS queued,
                           c.queue_wait_ms, c.lock_wait_ms, c.pull_ms, c.process_ms, c.commit_ms, c.push_ms
                    FROM changed c
                    CROSS JOIN LATERAL (VALUES (c.kb_id, true), ('', false)) AS s(kb_id, per_kb)
                    CROSS JOIN (VALUES (60, interval '60 seconds'), (3600, interval '3600 seconds'), (86400, interval '86400 seconds')) AS g(grain_seconds, step)
                    CROSS JOIN LATERAL (VALUES
                        ('requested', c.requested_at),
                        ('finished', c.finished_at),
                        ('left', CASE WHEN c.requested_at < coalesce(c.started_at, c.finished_at) THEN coalesce(c.started_at, c.finished_at) END)
                    ) AS e(event, at)
                    WHERE e.at IS NOT NULL AND NOT (s.per_kb AND c.kb_id = '')
                ),
                deltas AS (
                    SELECT kb_id, grain_seconds, bucket_start,
                        coalesce(sum(sign) FILTER (WHERE event = 'requested'), 0) AS requested,
                        coalesce(sum(sign) FILTER (WHERE event = 'requested' AND queued), 0) AS arrivals,
                        coalesce(sum(sign) FILTER (WHERE event = 'left'), 0) AS exits,
                        coalesce(sum(sign) FILTER (WHERE event = 'finished' AND status = 'succeeded'), 0) AS finished_succeeded,
                        coalesce(sum(sign) FILTER (WHERE event = 'finished' AND status = 'duplicate'), 0) AS finished_duplicate,
                        coalesce(sum(sign) FILTER (WHERE event = 'finished' AND status = 'failed'), 0) AS finished_failed,
                        coalesce(sum(sign) FILTER (WHERE event = 'finished' AND status = 'timed_out'), 0) AS finished_timed_out,
                        kbsync_hist_of(array_agg(kbsync_hist_bin(queue_wait_ms)) FILTER (WHERE event = 'requested' AND finished AND queue_wait_ms IS NOT NULL),
                                       array_agg(sign) FILTER (WHERE event = 'requested' AND finished AND queue_wait_ms IS NOT NULL)) AS queue_wait_bins,
                        kbsync_hist_of(array_agg(kbsync_hist_bin(lock_wait_ms)) FILTER (WHERE event = 'requested' AND finished AND lock_wait_ms IS NOT NULL),
                                       array_agg(sign) FILTER (WHERE event = 'requested' AND finished AND lock_wait_ms IS NOT NULL)) AS lock_wait_bins,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign) FILTER (WHERE event = 'requested' AND status = 'succeeded'), 0) END AS succeeded,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign) FILTER (WHERE event = 'requested' AND status = 'duplicate'), 0) END AS duplicate,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign) FILTER (WHERE event = 'requested' AND status = 'failed'), 0) END AS failed,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign) FILTER (WHERE event = 'requested' AND status = 'timed_out'), 0) END AS timed_out,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign) FILTER (WHERE event = 'requested' AND kind = 'agent'), 0) END AS agent_tasks,
                        coalesce(sum(sign * offset_ms) FILTER (WHERE event = 'requested' AND queued), 0) AS arrival_offset_ms,
                        coalesce(sum(sign * offset_ms) FILTER (WHERE event = 'left'), 0) AS exit_offset_ms,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign * queue_wait_ms) FILTER (WHERE event = 'requested' AND finished), 0) END AS queue_wait_sum_ms,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign * lock_wait_ms) FILTER (WHERE event = 'requested' AND finished), 0) END AS lock_wait_sum_ms,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign * pull_ms) FILTER (WHERE event = 'requested' AND finished AND pull_ms > 0), 0) END AS pull_sum_ms,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign * process_ms) FILTER (WHERE event = 'requested' AND finished AND process_ms > 0), 0) END AS process_sum_ms,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign * commit_ms) FILTER (WHERE event = 'requested' AND finished AND commit_ms > 0), 0) END AS commit_sum_ms,
                        CASE WHEN grain_seconds >= 3600 THEN coalesce(sum(sign * push_ms) FILTER (WHERE event = 'requested' AND finished AND push_ms > 0), 0) END AS push_sum_ms,
                        CASE WHEN grain_seconds >= 3600 THEN
                            kbsync_hist_of(array_agg(kbsync_hist_bin(pull_ms)) FILTER (WHERE event = 'requested' AND finished AND pull_ms > 0),
                                           array_agg(sign) FILTER (WHERE event = 'requested' AND finished AND pull_ms > 0)) END AS pull_bins,
                        CASE WHEN grain_seconds >= 3600 THEN
                            kbsync_hist_of(array_agg(kbsync_hist_bin(process_ms)) FILTER (WHERE event = 'requested' AND finished AND process_ms > 0),
                                           array_agg(sign) FILTER (WHERE event = 'requested' AND finished AND process_ms > 0)) END AS process_bins,
                        CASE WHEN grain_seconds >= 3600 THEN
                            kbsync_hist_of(array_agg(kbsync_hist_bin(commit_ms)) FILTER (WHERE event = 'requested' AND finished AND commit_ms > 0),
                                           array_agg(sign) FILTER (WHERE event = 'requested' AND finished AND commit_ms > 0)) END AS commit_bins,
                        CASE WHEN grain_seconds >= 3600 THEN
                            kbsync_hist_of(array_agg(kbsync_hist_bin(push_ms)) FILTER (WHERE event = 'requested' AND finished AND push_ms > 0),
                                           array_agg(sign) FILTER (WHERE event = 'requested' AND finished AND push_ms > 0)) END AS push_bins
                    FROM events
                    GROUP BY kb_id, grain_seconds, bucket_start
                ),
                upserted AS (
                    INSERT INTO operation_rollups AS r (
                        kb_id, grain_seconds, bucket_start, requested, arrivals, exits,
                        finished_succeeded, finished_duplicate, finished_failed, finished_timed_out, queue_wait_bins, lock_wait_bins,
                        succeeded, duplicate, failed, timed_out, agent_tasks, arrival_offset_ms, exit_offset_ms,
                        queue_wait_sum_ms, lock_wait_sum_ms, pull_sum_ms, process_sum_ms, commit_sum_ms, push_sum_ms,
                        pull_bins, process_bins, commit_bins, push_bins)
                    SELECT kb_id, grain_seconds, bucket_start, requested, arrivals, exits,
                        finished_succeeded, finished_duplicate, finished_failed, finished_timed_out, queue_wait_bins, lock_wait_bins,
                        succeeded, duplicate, failed, timed_out, agent_tasks, arrival_offset_ms, exit_offset_ms,
                        queue_wait_sum_ms, lock_wait_sum_ms, pull_sum_ms, process_sum_ms, commit_sum_ms, push_sum_ms,
                        pull_bins, process_bins, commit_bins, push_bins
                    FROM deltas
                    ORDER BY kb_id, grain_seconds, bucket_start
                    ON CONFLICT (kb_id, grain_seconds, bucket_start) DO UPDATE SET
                        requested = r.requested + excluded.requested,
                        arrivals = r.arrivals + excluded.arrivals,
                        exits = r.exits + excluded.exits,
                        finished_succeeded = r.finished_succeeded + excluded.finished_succeeded,
                        finished_duplicate = r.finished_duplicate + excluded.finished_duplicate,
                        finished_failed = r.finished_failed + excluded.finished_failed,
                        finished_timed_out = r.finished_timed_out + excluded.finished_timed_out,
                        queue_wait_bins = kbsync_hist_add(r.queue_wait_bins, excluded.queue_wait_bins),
                        lock_wait_bins = kbsync_hist_add(r.lock_wait_bins, excluded.lock_wait_bins),
                        succeeded = r.succeeded + excluded.succeeded,
                        duplicate = r.duplicate + excluded.duplicate,
                        failed = r.failed + excluded.failed,
                        timed_out = r.timed_out + excluded.timed_out,
                        agent_tasks = r.agent_tasks + excluded.agent_tasks,
                        arrival_offset_ms = r.arrival_offset_ms + excluded.arrival_offset_ms,
                        exit_offset_ms = r.exit_offset_ms + excluded.exit_offset_ms,
                        queue_wait_sum_ms = r.queue_wait_sum_ms + excluded.queue_wait_sum_ms,
                        lock_wait_sum_ms = r.lock_wait_sum_ms + excluded.lock_wait_sum_ms,
                        pull_sum_ms = r.pull_sum_ms + excluded.pull_sum_ms,
                        process_sum_ms = r.process_sum_ms + excluded.process_sum_ms,
                        commit_sum_ms = r.commit_sum_ms + excluded.commit_sum_ms,
                        push_sum_ms = r.push_sum_ms + excluded.push_sum_ms,
                        pull_bins = kbsync_hist_add(r.pull_bins, excluded.pull_bins),
                        process_bins = kbsync_hist_add(r.process_bins, excluded.process_bins),
                        commit_bins = kbsync_hist_add(r.commit_bins, excluded.commit_bins),
                        push_bins = kbsync_hist_add(r.push_bins, excluded.push_bins)
                    RETURNING r.kb_id, r.grain_seconds, r.bucket_start,
                        r.requested = 0 AND r.exits = 0 AND r.finished_succeeded = 0 AND r.finished_duplicate = 0
                            AND r.finished_failed = 0 AND r.finished_timed_out = 0 AS empty
                )
                SELECT array_agg(kb_id) FILTER (WHERE empty), array_agg(grain_seconds) FILTER (WHERE empty), array_agg(bucket_start) FILTER (WHERE empty),
                       array_agg(kb_id) FILTER (WHERE grain_seconds > 60 AND NOT empty), array_agg(grain_seconds) FILTER (WHERE grain_seconds > 60 AND NOT empty),
                       array_agg(bucket_start) FILTER (WHERE grain_seconds > 60 AND NOT empty)
                INTO emptied_kbs, emptied_grains, emptied_starts, coarse_kbs, coarse_grains, coarse_starts
                FROM upserted;

                IF emptied_kbs IS NOT NULL THEN
                    DELETE FROM operation_rollups r
                    USING unnest(emptied_kbs, emptied_grains, emptied_starts) AS e(kb_id, grain_seconds, bucket_start)
                    WHERE r.kb_id = e.kb_id AND r.grain_seconds = e.grain_seconds AND r.bucket_start = e.bucket_start;
                END IF;

                -- the queue-depth bound of the hours changed, from their minutes, then of the days, from their hours: rows
                -- this transaction locked in the upsert above, so concurrent writers of one hour take turns here too
                -- (kbsync_rollups_backfill computes them all at once at its end instead)
                IF coarse_kbs IS NOT NULL AND coalesce(current_setting('kbsync.backfilling', true), '') <> 'on' THEN
                    UPDATE operation_rollups h SET peak_bound = (
                        SELECT greatest(0, coalesce(max(c.before + c.rise), 0)) FROM (
                            SELECT CASE WHEN h.grain_seconds = 3600 THEN m.arrivals ELSE m.peak_bound END AS rise,
                                   sum(m.arrivals - m.exits) OVER (ORDER BY m.bucket_start) - (m.arrivals - m.exits) AS before
                            FROM operation_rollups m
                            WHERE m.kb_id = h.kb_id AND m.grain_seconds = CASE WHEN h.grain_seconds = 3600 THEN 60 ELSE 3600 END
                              AND m.bucket_start >= h.bucket_start AND m.bucket_start < h.bucket_start + h.grain_seconds * interval '1 second'
                        ) c)
                    FROM unnest(coarse_kbs, coarse_grains, coarse_starts) AS a(kb_id, grain_seconds, bucket_start)
                    WHERE a.grain_seconds = 3600 AND h.kb_id = a.kb_id AND h.grain_seconds = 3600 AND h.bucket_start = a.bucket_start;

                    UPDATE operation_rollups h SET peak_bound = (
                        SELECT greatest(0, coalesce(max(c.before + c.rise), 0)) FROM (
                            SELECT m.peak_bound AS rise,
                                   sum(m.arrivals - m.exits) OVER (ORDER BY m.bucket_start) - (m.arrivals - m.exits) AS before
                            FROM operation_rollups m
                            WHERE m.kb_id = h.kb_id AND m.grain_seconds = 3600
                              AND m.bucket_start >= h.bucket_start AND m.bucket_start < h.bucket_start + interval '1 day'
                        ) c)
                    FROM unnest(coarse_kbs, coarse_grains, coarse_starts) AS a(kb_id, grain_seconds, bucket_start)
                    WHERE a.grain_seconds = 86400 AND h.kb_id = a.kb_id AND h.grain_seconds = 86400 AND h.bucket_start = a.bucket_start;
                END IF;

                WITH changed AS (
                    SELECT -1 AS sign, r.* FROM unnest(removed) r WHERE r.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                    UNION ALL
                    SELECT 1, a.* FROM unnest(added) a WHERE a.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                ),
                per_requester AS (
                    SELECT g.kb_id, g.grain_seconds, date_bin(g.step, c.requested_at, timestamptz 'epoch') AS bucket_start, c.requested_by,
                           sum(c.sign)::integer AS operations,
                           coalesce(sum(c.sign) FILTER (WHERE c.finished_at IS NOT NULL), 0)::integer AS finished,
                           kbsync_hist_of(array_agg(kbsync_hist_bin(c.queue_wait_ms)) FILTER (WHERE c.finished_at IS NOT NULL AND c.queue_wait_ms IS NOT NULL),
                                          array_agg(c.sign) FILTER (WHERE c.finished_at IS NOT NULL AND c.queue_wait_ms IS NOT NULL)) AS queue_wait_bins,
                           kbsync_hist_of(array_agg(kbsync_hist_bin(c.lock_wait_ms)) FILTER (WHERE c.finished_at IS NOT NULL AND c.lock_wait_ms IS NOT NULL),
                                          array_agg(c.sign) FILTER (WHERE c.finished_at IS NOT NULL AND c.lock_wait_ms IS NOT NULL)) AS lock_wait_bins
                    FROM changed c
                    CROSS JOIN LATERAL (VALUES
                        ('', 3600, interval '3600 seconds', false),
                        ('', 86400, interval '86400 seconds', false),
                        (c.kb_id, 86400, interval '86400 seconds', true)
                    ) AS g(kb_id, grain_seconds, step, per_kb)
                    WHERE NOT (g.per_kb AND c.kb_id = '')
                    GROUP BY 1, 2, 3, 4
                ),
                counted AS (
                    INSERT INTO requester_rollups AS r (kb_id, grain_seconds, bucket_start, requesters, operations)
                    SELECT kb_id, grain_seconds, bucket_start, array_agg(requested_by ORDER BY requested_by), array_agg(operations ORDER BY requested_by)
                    FROM per_requester
                    WHERE operations <> 0
                    GROUP BY kb_id, grain_seconds, bucket_start
                    ORDER BY kb_id, grain_seconds, bucket_start
                    ON CONFLICT (kb_id, grain_seconds, bucket_start) DO UPDATE SET
                        (requesters, operations) = (
                            SELECT m.requesters_out, m.operations_out
                            FROM kbsync_requesters_add(r.requesters, r.operations, excluded.requesters, excluded.operations) m)
                    RETURNING r.kb_id, r.grain_seconds, r.bucket_start, cardinality(r.requesters) = 0 AS empty
                ),
                waited AS (
                    INSERT INTO requester_waits AS w (kb_id, grain_seconds, requested_by, bucket_start, finished, queue_wait_bins, lock_wait_bins)
                    SELECT kb_id, grain_seconds, requested_by, bucket_start, finished, queue_wait_bins, lock_wait_bins
                    FROM per_requester
                    WHERE finished <> 0 OR queue_wait_bins IS NOT NULL OR lock_wait_bins IS NOT NULL
                    ORDER BY kb_id, grain_seconds, requested_by, bucket_start
                    ON CONFLICT (kb_id, grain_seconds, requested_by, bucket_start) DO UPDATE SET
                        finished = w.finished + excluded.finished,
                        queue_wait_bins = kbsync_hist_add(w.queue_wait_bins, excluded.queue_wait_bins),
                        lock_wait_bins = kbsync_hist_add(w.lock_wait_bins, excluded.lock_wait_bins)
                    RETURNING w.kb_id, w.grain_seconds, w.requested_by, w.bucket_start, w.finished = 0 AS empty
                )
                SELECT (SELECT array_agg(kb_id) FILTER (WHERE empty) FROM counted),
                       (SELECT array_agg(grain_seconds) FILTER (WHERE empty) FROM counted),
                       (SELECT array_agg(bucket_start) FILTER (WHERE empty) FROM counted),
                       (SELECT array_agg(kb_id) FILTER (WHERE empty) FROM waited),
                       (SELECT array_agg(grain_seconds) FILTER (WHERE empty) FROM waited),
                       (SELECT array_agg(requested_by) FILTER (WHERE empty) FROM waited),
                       (SELECT array_agg(bucket_start) FILTER (WHERE empty) FROM waited)
                INTO emptied_kbs, emptied_grains, emptied_starts, emptied_wait_kbs, emptied_wait_grains, emptied_wait_names, emptied_wait_starts;

                IF emptied_kbs IS NOT NULL THEN
                    DELETE FROM requester_rollups r
                    USING unnest(emptied_kbs, emptied_grains, emptied_starts) AS e(kb_id, grain_seconds, bucket_start)
                    WHERE r.kb_id = e.kb_id AND r.grain_seconds = e.grain_seconds AND r.bucket_start = e.bucket_start;
                END IF;

                IF emptied_wait_kbs IS NOT NULL THEN
                    DELETE FROM requester_waits w
                    USING unnest(emptied_wait_kbs, emptied_wait_grains, emptied_wait_names, emptied_wait_starts) AS e(kb_id, grain_seconds, requested_by, bucket_start)
                    WHERE w.kb_id = e.kb_id AND w.grain_seconds = e.grain_seconds AND w.requested_by = e.requested_by AND w.bucket_start = e.bucket_start;
                END IF;
            END
            $$;
            """;

        /// <summary>
        /// Rollups for the history already there, a day of requests at a time through the same function the triggers
        /// use. <c>kbsync_rollups_backfill()</c> stays in the database: it is what the benchmarks time after seeding
        /// history with the triggers off (rollups empty). The migration runs with a command timeout of
        /// <c>DatabaseMigrator.MigrationTimeout</c>; docs/benchmarks.md has the time it took on 1,000,000 and
        /// 10,000,000 operations.
        /// </summary>
        private const string Backfill = """
            -- writers wait until the migration commits: a row finished between the backfill and the triggers would be missed
            LOCK TABLE operations IN SHARE ROW EXCLUSIVE MODE;

            CREATE FUNCTION kbsync_rollups_backfill() RETURNS bigint
            LANGUAGE plpgsql AS $$
            DECLARE
                chunk_start timestamp with time zone;
                last_requested timestamp with time zone;
                total bigint := 0;
                chunk kbsync_rollup_operation[];
            BEGIN
                SELECT date_bin(interval '86400 seconds', min(requested_at), timestamptz 'epoch'), max(requested_at) INTO chunk_start, last_requested
                FROM operations WHERE status IN ('succeeded', 'duplicate', 'failed', 'timed_out');
                PERFORM set_config('kbsync.backfilling', 'on', true);
                WHILE chunk_start <= last_requested LOOP
                    chunk := ARRAY(
                        SELECT (o.kb_id, o.kind, o.status, o.requested_by, o.requested_at, o.started_at, o.finished_at,
                                o.queue_wait_ms, o.lock_wait_ms, o.pull_ms, o.process_ms, o.commit_ms, o.push_ms)::kbsync_rollup_operation
                        FROM operations o
                        WHERE o.requested_at >= chunk_start AND o.requested_at < chunk_start + interval '86400 seconds'
                          AND o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out'));
                    IF cardinality(chunk) > 0 THEN
                        PERFORM kbsync_rollups_apply('{}', chunk);
                        total := total + cardinality(chunk);
                    END IF;
                    chunk_start := chunk_start + interval '86400 seconds';
                END LOOP;
                PERFORM set_config('kbsync.backfilling', 'off', true);

                -- the queue-depth bounds, as kbsync_rollups_apply keeps them: hours from their minutes, then days from their hours
                UPDATE operation_rollups h SET peak_bound = s.bound
                FROM (
                    SELECT kb_id, date_bin(interval '3600 seconds', bucket_start, timestamptz 'epoch') AS hour, greatest(0, max(before + arrivals)) AS bound
                    FROM (
                        SELECT kb_id, bucket_start, arrivals,
                               sum(arrivals - exits) OVER (PARTITION BY kb_id, date_bin(interval '3600 seconds', bucket_start, timestamptz 'epoch') ORDER BY bucket_start)
                                   - (arrivals - exits) AS before
                        FROM operation_rollups WHERE grain_seconds = 60
                    ) m
                    GROUP BY 1, 2
                ) s
                WHERE h.kb_id = s.kb_id AND h.grain_seconds = 3600 AND h.bucket_start = s.hour;

                UPDATE operation_rollups d SET peak_bound = s.bound
                FROM (
                    SELECT kb_id, date_bin(interval '86400 seconds', bucket_start, timestamptz 'epoch') AS day, greatest(0, max(before + peak_bound)) AS bound
                    FROM (
                        SELECT kb_id, bucket_start, peak_bound,
                               sum(arrivals - exits) OVER (PARTITION BY kb_id, date_bin(interval '86400 seconds', bucket_start, timestamptz 'epoch') ORDER BY bucket_start)
                                   - (arrivals - exits) AS before
                        FROM operation_rollups WHERE grain_seconds = 3600
                    ) h
                    GROUP BY 1, 2
                ) s
                WHERE d.kb_id = s.kb_id AND d.grain_seconds = 86400 AND d.bucket_start = s.day;
                RETURN total;
            END
            $$;

            SELECT kbsync_rollups_backfill();

            ANALYZE operation_rollups;
            ANALYZE requester_rollups;
            ANALYZE requester_waits;
            """;

        /// <summary>
        /// Statement triggers with transition tables: whatever writes the history (a worker's batch of 20, the queue tap,
        /// a refused request recorded by the API, retention, a test or psql), each statement updates the rollups once, in
        /// its own transaction. An update that leaves an operation's figures as they were (a worker marking its step)
        /// costs a scan of the few rows it changed. TRUNCATE empties the rollups too.
        /// <para>
        /// Why triggers rather than the code that finishes operations: there are several writers of final rows (the
        /// worker's recorder, its failure path, the API, <c>kbsync db prune</c>, people in psql), and one that forgot the
        /// rollups would leave them wrong for ever; a trigger runs in the writer's own transaction, so a rollback takes
        /// its rollup changes back too and a reader's snapshot always sees rows and rollups agree. Concurrent workers:
        /// each statement upserts its rollup rows in key order, so two finishing at once wait for each other's rows and
        /// never deadlock; the rows of every KB (<c>kb_id = ''</c>) make finishing statements take turns for the few
        /// milliseconds the trigger runs, until their commit.
        /// </para>
        /// </summary>
        private const string Triggers = """
            CREATE FUNCTION kbsync_rollups_on_insert() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                added kbsync_rollup_operation[];
            BEGIN
                added := ARRAY(
                    SELECT (n.kb_id, n.kind, n.status, n.requested_by, n.requested_at, n.started_at, n.finished_at,
                            n.queue_wait_ms, n.lock_wait_ms, n.pull_ms, n.process_ms, n.commit_ms, n.push_ms)::kbsync_rollup_operation
                    FROM new_rows n WHERE n.status IN ('succeeded', 'duplicate', 'failed', 'timed_out'));
                IF cardinality(added) > 0 THEN
                    PERFORM kbsync_rollups_apply('{}', added);
                END IF;
                RETURN NULL;
            END
            $$;

            CREATE FUNCTION kbsync_rollups_on_update() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                removed kbsync_rollup_operation[];
                added kbsync_rollup_operation[];
            BEGIN
                WITH pairs AS (
                    SELECT (o.kb_id, o.kind, o.status, o.requested_by, o.requested_at, o.started_at, o.finished_at,
                            o.queue_wait_ms, o.lock_wait_ms, o.pull_ms, o.process_ms, o.commit_ms, o.push_ms)::kbsync_rollup_operation AS old_op,
                           (n.kb_id, n.kind, n.status, n.requested_by, n.requested_at, n.started_at, n.finished_at,
                            n.queue_wait_ms, n.lock_wait_ms, n.pull_ms, n.process_ms, n.commit_ms, n.push_ms)::kbsync_rollup_operation AS new_op
                    FROM old_rows o JOIN new_rows n ON n.id = o.id
                    WHERE (o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out') OR n.status IN ('succeeded', 'duplicate', 'failed', 'timed_out'))
                )
                SELECT coalesce(array_agg(old_op) FILTER (WHERE (old_op).status IN ('succeeded', 'duplicate', 'failed', 'timed_out') AND old_op IS DISTINCT FROM new_op), '{}'),
                       coalesce(array_agg(new_op) FILTER (WHERE (new_op).status IN ('succeeded', 'duplicate', 'failed', 'timed_out') AND old_op IS DISTINCT FROM new_op), '{}')
                INTO removed, added
                FROM pairs;
                IF cardinality(removed) > 0 OR cardinality(added) > 0 THEN
                    PERFORM kbsync_rollups_apply(removed, added);
                END IF;
                RETURN NULL;
            END
            $$;

            CREATE FUNCTION kbsync_rollups_on_delete() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                removed kbsync_rollup_operation[];
            BEGIN
                removed := ARRAY(
                    SELECT (o.kb_id, o.kind, o.status, o.requested_by, o.requested_at, o.started_at, o.finished_at,
                            o.queue_wait_ms, o.lock_wait_ms, o.pull_ms, o.process_ms, o.commit_ms, o.push_ms)::kbsync_rollup_operation
                    FROM old_rows o WHERE o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out'));
                IF cardinality(removed) > 0 THEN
                    PERFORM kbsync_rollups_apply(removed, '{}');
                END IF;
                RETURN NULL;
            END
            $$;

            CREATE FUNCTION kbsync_rollups_on_truncate() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                TRUNCATE operation_rollups, requester_rollups, requester_waits;
                RETURN NULL;
            END
            $$;

            CREATE TRIGGER operations_rollups_insert AFTER INSERT ON operations
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kbsync_rollups_on_insert();
            CREATE TRIGGER operations_rollups_update AFTER UPDATE ON operations
                REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kbsync_rollups_on_update();
            CREATE TRIGGER operations_rollups_delete AFTER DELETE ON operations
                REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kbsync_rollups_on_delete();
            CREATE TRIGGER operations_rollups_truncate AFTER TRUNCATE ON operations
                FOR EACH STATEMENT EXECUTE FUNCTION kbsync_rollups_on_truncate();
            """;
    }
}

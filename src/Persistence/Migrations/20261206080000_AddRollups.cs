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
            migrationBuilder.Sql(Builder);
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
                DROP FUNCTION kbsync_rollups_log_insert();
                DROP FUNCTION kbsync_rollups_log_update();
                DROP FUNCTION kbsync_rollups_log_delete();
                DROP FUNCTION kbsync_rollups_on_truncate();
                DROP FUNCTION kbsync_rollups_claim(interval, interval);
                DROP FUNCTION kbsync_rollups_build();
                DROP TABLE rollup_changes;
                DROP TABLE rollup_state;
                DROP FUNCTION kbsync_rollups_apply(kbsync_rollup_operation[], kbsync_rollup_operation[], timestamp with time zone, timestamp with time zone);
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
        /// Adds the finished operations of <c>added</c> to the rollups and subtracts those of <c>removed</c>, counting
        /// only their events timed in [<c>from_at</c>, <c>to_at</c>): the builder seals a window of minutes with the
        /// events inside it, and applies logged changes with the events before the sealed end only (those after are
        /// read from the raw rows when their window is sealed). One upsert per table. Only the builder calls it
        /// (<c>kbsync_rollups_build</c>). Every figure goes to the bucket of its own time at each grain, for
        /// every KB (<c>kb_id = ''</c>: minutes, hours, days) and for the operation's KB unless its KB id is empty
        /// (hours and days: per-KB minutes would be about a row per operation): requested, status, kind,
        /// waits and steps by <c>requested_at</c>; throughput by <c>finished_at</c>; queue arrivals by
        /// <c>requested_at</c> and exits by the time it left the queue (<c>coalesce(started_at, finished_at)</c>, when
        /// after the request), with their offsets in the bucket for the mean queue depth. Rows left with nothing are
        /// deleted.
        /// </summary>
        private const string ApplyFunction = """
            CREATE FUNCTION kbsync_rollups_apply(
                removed kbsync_rollup_operation[], added kbsync_rollup_operation[],
                from_at timestamp with time zone, to_at timestamp with time zone) RETURNS void
            LANGUAGE plpgsql AS $$
            DECLARE
                emptied_kbs text[];
                changed_kbs text[];
                changed_grains integer[];
                changed_starts timestamp with time zone[];
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
                    WHERE e.at >= from_at AND e.at < to_at AND NOT (s.per_kb AND c.kb_id = '') AND NOT (s.per_kb AND g.grain_seconds = 60)
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
                       array_agg(kb_id) FILTER (WHERE NOT empty), array_agg(grain_seconds) FILTER (WHERE NOT empty),
                       array_agg(bucket_start) FILTER (WHERE NOT empty)
                INTO emptied_kbs, emptied_grains, emptied_starts, changed_kbs, changed_grains, changed_starts
                FROM upserted;

                IF emptied_kbs IS NOT NULL THEN
                    DELETE FROM operation_rollups r
                    USING unnest(emptied_kbs, emptied_grains, emptied_starts) AS e(kb_id, grain_seconds, bucket_start)
                    WHERE r.kb_id = e.kb_id AND r.grain_seconds = e.grain_seconds AND r.bucket_start = e.bucket_start;
                END IF;

                -- peak_bound, how far the queue rises inside a bucket over its depth at the bucket's start, exactly: first
                -- of the minutes changed (over every KB) and of the hours changed per KB (which have no minutes), from the
                -- queue events of the finished operations in the bucket up to to_at (what the rollups hold after this call),
                -- all events of one instant taken together, as the statistics' search takes them; then of the hours over
                -- every KB, from their minutes, then of the days, from their hours (the highest of each part's depth before
                -- it plus its rise: exact when the parts' rises are)
                IF changed_kbs IS NOT NULL THEN
                    UPDATE operation_rollups h SET peak_bound = (
                        SELECT greatest(0, coalesce(max(e.rise), 0)) FROM (
                            SELECT sum(q.delta) OVER (ORDER BY q.at) AS rise FROM (
                                SELECT o.requested_at AS at, 1 AS delta FROM operations o
                                WHERE o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                                  AND o.requested_at >= h.bucket_start AND o.requested_at < least(h.bucket_start + interval '1 minute', to_at)
                                  AND o.requested_at < coalesce(o.started_at, o.finished_at)
                                UNION ALL
                                SELECT o.started_at, -1 FROM operations o
                                WHERE o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                                  AND o.started_at >= h.bucket_start AND o.started_at < least(h.bucket_start + interval '1 minute', to_at)
                                  AND o.requested_at < o.started_at
                                UNION ALL
                                SELECT o.finished_at, -1 FROM operations o
                                WHERE o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out') AND o.started_at IS NULL
                                  AND o.finished_at >= h.bucket_start AND o.finished_at < least(h.bucket_start + interval '1 minute', to_at)
                                  AND o.requested_at < o.finished_at
                            ) q
                        ) e)
                    FROM unnest(changed_kbs, changed_grains, changed_starts) AS a(kb_id, grain_seconds, bucket_start)
                    WHERE a.grain_seconds = 60 AND h.kb_id = a.kb_id AND h.grain_seconds = 60 AND h.bucket_start = a.bucket_start;

                    UPDATE operation_rollups h SET peak_bound = CASE WHEN h.kb_id <> '' THEN (
                        SELECT greatest(0, coalesce(max(e.rise), 0)) FROM (
                            SELECT sum(q.delta) OVER (ORDER BY q.at) AS rise FROM (
                                SELECT o.requested_at AS at, 1 AS delta FROM operations o
                                WHERE o.kb_id = h.kb_id AND o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                                  AND o.requested_at >= h.bucket_start AND o.requested_at < least(h.bucket_start + interval '1 hour', to_at)
                                  AND o.requested_at < coalesce(o.started_at, o.finished_at)
                                UNION ALL
                                SELECT o.started_at, -1 FROM operations o
                                WHERE o.kb_id = h.kb_id AND o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                                  AND o.started_at >= h.bucket_start AND o.started_at < least(h.bucket_start + interval '1 hour', to_at)
                                  AND o.requested_at < o.started_at
                                UNION ALL
                                SELECT o.finished_at, -1 FROM operations o
                                WHERE o.kb_id = h.kb_id AND o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out') AND o.started_at IS NULL
                                  AND o.finished_at >= h.bucket_start AND o.finished_at < least(h.bucket_start + interval '1 hour', to_at)
                                  AND o.requested_at < o.finished_at
                            ) q
                        ) e) ELSE (
                        SELECT greatest(0, coalesce(max(c.before + c.rise), 0)) FROM (
                            SELECT m.peak_bound AS rise,
                                   sum(m.arrivals - m.exits) OVER (ORDER BY m.bucket_start) - (m.arrivals - m.exits) AS before
                            FROM operation_rollups m
                            WHERE m.kb_id = h.kb_id AND m.grain_seconds = CASE WHEN h.grain_seconds = 3600 THEN 60 ELSE 3600 END
                              AND m.bucket_start >= h.bucket_start AND m.bucket_start < h.bucket_start + h.grain_seconds * interval '1 second'
                        ) c) END
                    FROM unnest(changed_kbs, changed_grains, changed_starts) AS a(kb_id, grain_seconds, bucket_start)
                    WHERE a.grain_seconds = 3600 AND h.kb_id = a.kb_id AND h.grain_seconds = 3600 AND h.bucket_start = a.bucket_start;

                    UPDATE operation_rollups h SET peak_bound = (
                        SELECT greatest(0, coalesce(max(c.before + c.rise), 0)) FROM (
                            SELECT m.peak_bound AS rise,
                                   sum(m.arrivals - m.exits) OVER (ORDER BY m.bucket_start) - (m.arrivals - m.exits) AS before
                            FROM operation_rollups m
                            WHERE m.kb_id = h.kb_id AND m.grain_seconds = 3600
                              AND m.bucket_start >= h.bucket_start AND m.bucket_start < h.bucket_start + interval '1 day'
                        ) c)
                    FROM unnest(changed_kbs, changed_grains, changed_starts) AS a(kb_id, grain_seconds, bucket_start)
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
                    WHERE c.requested_at >= from_at AND c.requested_at < to_at AND NOT (g.per_kb AND c.kb_id = '')
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
        /// The builder's state and functions. <c>rollup_state</c> (one row): the rollups hold every event timed before
        /// <c>sealed_until</c> (a whole minute; <c>-infinity</c>: nothing built yet); <c>claimed_until</c> is where the
        /// builder is sealing to (equal to <c>sealed_until</c> between rounds). <c>rollup_changes</c>: operations
        /// changed (inserted, updated, deleted) with an event before <c>claimed_until</c>, logged by the triggers as
        /// a removal of the old row and an addition of the new one, applied and deleted by the next round.
        /// <para>
        /// <c>kbsync_rollups_claim(batch, grace)</c> moves <c>claimed_until</c> to at most <c>batch</c> past
        /// <c>sealed_until</c> and no later than the whole minute <c>grace</c> before now (the first time, to the day of
        /// the first finished request). It takes advisory lock 4711016001 exclusively, which every writer of finished
        /// rows holds shared until it commits (the triggers): a writer that read the old claim has committed when the
        /// claim moves, so the round's snapshot holds its row, and every later writer sees the new claim and logs
        /// its change. <c>kbsync_rollups_build()</c>, run in a repeatable-read transaction (one snapshot for the log and
        /// the rows), applies the logged changes with their events before <c>sealed_until</c> (the events after it are
        /// in the window being sealed, read from the rows themselves), then adds the events of the window
        /// [<c>sealed_until</c>, <c>claimed_until</c>) from the finished operations requested, started or finished in it
        /// (three index range scans), and moves <c>sealed_until</c> to <c>claimed_until</c>. Both take the state row
        /// <c>FOR UPDATE</c>: two builders at once take turns or fail on the update (repeatable read), never count
        /// anything twice. Returns the operations applied.
        /// </para>
        /// </summary>
        private const string Builder = """
            CREATE TABLE rollup_state (
                id integer PRIMARY KEY CHECK (id = 1),
                sealed_until timestamp with time zone NOT NULL,
                claimed_until timestamp with time zone NOT NULL);
            INSERT INTO rollup_state VALUES (1, '-infinity', '-infinity');

            CREATE TABLE rollup_changes (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                sign integer NOT NULL,
                operation kbsync_rollup_operation NOT NULL);

            CREATE FUNCTION kbsync_rollups_claim(batch interval, grace interval) RETURNS timestamp with time zone
            LANGUAGE plpgsql AS $$
            DECLARE
                sealed timestamp with time zone;
                claimed timestamp with time zone;
                horizon timestamp with time zone := date_bin(interval '60 seconds', now() - grace, timestamptz 'epoch');
                target timestamp with time zone;
            BEGIN
                SELECT s.sealed_until, s.claimed_until INTO sealed, claimed FROM rollup_state s WHERE s.id = 1 FOR UPDATE;
                IF claimed > sealed THEN
                    RETURN claimed; -- the last round did not finish: build that window first
                END IF;
                IF sealed = '-infinity' THEN
                    PERFORM pg_advisory_xact_lock(4711016001);
                    SELECT least(horizon, coalesce(date_bin(interval '86400 seconds', min(o.requested_at), timestamptz 'epoch'), horizon)) INTO sealed
                    FROM operations o WHERE o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out');
                    UPDATE rollup_state SET sealed_until = sealed, claimed_until = sealed WHERE id = 1;
                END IF;
                target := least(sealed + batch, horizon);
                IF target > sealed THEN
                    PERFORM pg_advisory_xact_lock(4711016001);
                    UPDATE rollup_state SET claimed_until = target WHERE id = 1;
                    RETURN target;
                END IF;
                RETURN sealed;
            END
            $$;

            CREATE FUNCTION kbsync_rollups_build() RETURNS bigint
            LANGUAGE plpgsql AS $$
            DECLARE
                sealed timestamp with time zone;
                claimed timestamp with time zone;
                removed kbsync_rollup_operation[];
                added kbsync_rollup_operation[];
                applied bigint := 0;
            BEGIN
                SELECT s.sealed_until, s.claimed_until INTO sealed, claimed FROM rollup_state s WHERE s.id = 1 FOR UPDATE;
                IF sealed = '-infinity' THEN
                    RETURN 0;
                END IF;

                WITH taken AS (DELETE FROM rollup_changes RETURNING sign, operation)
                SELECT coalesce(array_agg(operation) FILTER (WHERE sign < 0), '{}'), coalesce(array_agg(operation) FILTER (WHERE sign > 0), '{}')
                INTO removed, added
                FROM taken;
                IF cardinality(removed) + cardinality(added) > 0 THEN
                    PERFORM kbsync_rollups_apply(removed, added, '-infinity', sealed);
                    applied := cardinality(removed) + cardinality(added);
                END IF;

                IF claimed > sealed THEN
                    added := ARRAY(
                        SELECT (o.kb_id, o.kind, o.status, o.requested_by, o.requested_at, o.started_at, o.finished_at,
                                o.queue_wait_ms, o.lock_wait_ms, o.pull_ms, o.process_ms, o.commit_ms, o.push_ms)::kbsync_rollup_operation
                        FROM operations o
                        WHERE o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out') AND o.id IN (
                            SELECT r.id FROM operations r WHERE r.requested_at >= sealed AND r.requested_at < claimed
                            UNION SELECT s.id FROM operations s WHERE s.started_at >= sealed AND s.started_at < claimed
                            UNION SELECT f.id FROM operations f WHERE f.finished_at >= sealed AND f.finished_at < claimed));
                    IF cardinality(added) > 0 THEN
                        PERFORM kbsync_rollups_apply('{}', added, sealed, claimed);
                        applied := applied + cardinality(added);
                    END IF;
                    UPDATE rollup_state SET sealed_until = claimed WHERE id = 1;
                END IF;
                RETURN applied;
            END
            $$;
            """;

        /// <summary>
        /// Statement triggers with transition tables, on whatever writes the history (a worker, the queue tap, the API,
        /// retention, a test or psql): a statement that inserts, changes or deletes finished operations with an event
        /// before <c>claimed_until</c> logs them in <c>rollup_changes</c> (an insert, no row anyone else updates: no
        /// writer waits for another), holding advisory lock 4711016001 shared until it commits (see
        /// <see cref="Builder"/>). A statement on operations that are not finished, or finished after the claim (the
        /// usual finish), logs nothing. An update that leaves an operation's figures as they were logs nothing.
        /// TRUNCATE empties the rollups and the log and starts the builder over.
        /// </summary>
        private const string Triggers = """
            CREATE FUNCTION kbsync_rollups_log_insert() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                claimed timestamp with time zone;
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')) THEN
                    RETURN NULL;
                END IF;
                PERFORM pg_advisory_xact_lock_shared(4711016001);
                SELECT s.claimed_until INTO claimed FROM rollup_state s WHERE s.id = 1;
                INSERT INTO rollup_changes (sign, operation)
                SELECT 1, (n.kb_id, n.kind, n.status, n.requested_by, n.requested_at, n.started_at, n.finished_at,
                           n.queue_wait_ms, n.lock_wait_ms, n.pull_ms, n.process_ms, n.commit_ms, n.push_ms)::kbsync_rollup_operation
                FROM new_rows n
                WHERE n.status IN ('succeeded', 'duplicate', 'failed', 'timed_out') AND least(n.requested_at, n.started_at, n.finished_at) < claimed;
                RETURN NULL;
            END
            $$;

            CREATE FUNCTION kbsync_rollups_log_update() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                claimed timestamp with time zone;
            BEGIN
                IF NOT EXISTS (
                    SELECT 1 FROM old_rows o WHERE o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                    UNION ALL
                    SELECT 1 FROM new_rows n WHERE n.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')) THEN
                    RETURN NULL;
                END IF;
                PERFORM pg_advisory_xact_lock_shared(4711016001);
                SELECT s.claimed_until INTO claimed FROM rollup_state s WHERE s.id = 1;
                WITH pairs AS (
                    SELECT (o.kb_id, o.kind, o.status, o.requested_by, o.requested_at, o.started_at, o.finished_at,
                            o.queue_wait_ms, o.lock_wait_ms, o.pull_ms, o.process_ms, o.commit_ms, o.push_ms)::kbsync_rollup_operation AS old_op,
                           (n.kb_id, n.kind, n.status, n.requested_by, n.requested_at, n.started_at, n.finished_at,
                            n.queue_wait_ms, n.lock_wait_ms, n.pull_ms, n.process_ms, n.commit_ms, n.push_ms)::kbsync_rollup_operation AS new_op
                    FROM old_rows o JOIN new_rows n ON n.id = o.id
                )
                INSERT INTO rollup_changes (sign, operation)
                SELECT c.sign, c.operation FROM pairs p
                CROSS JOIN LATERAL (VALUES (-1, p.old_op), (1, p.new_op)) AS c(sign, operation)
                WHERE p.old_op IS DISTINCT FROM p.new_op
                  AND (c.operation).status IN ('succeeded', 'duplicate', 'failed', 'timed_out')
                  AND least((c.operation).requested_at, (c.operation).started_at, (c.operation).finished_at) < claimed;
                RETURN NULL;
            END
            $$;

            CREATE FUNCTION kbsync_rollups_log_delete() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                claimed timestamp with time zone;
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out')) THEN
                    RETURN NULL;
                END IF;
                PERFORM pg_advisory_xact_lock_shared(4711016001);
                SELECT s.claimed_until INTO claimed FROM rollup_state s WHERE s.id = 1;
                INSERT INTO rollup_changes (sign, operation)
                SELECT -1, (o.kb_id, o.kind, o.status, o.requested_by, o.requested_at, o.started_at, o.finished_at,
                            o.queue_wait_ms, o.lock_wait_ms, o.pull_ms, o.process_ms, o.commit_ms, o.push_ms)::kbsync_rollup_operation
                FROM old_rows o
                WHERE o.status IN ('succeeded', 'duplicate', 'failed', 'timed_out') AND least(o.requested_at, o.started_at, o.finished_at) < claimed;
                RETURN NULL;
            END
            $$;

            CREATE FUNCTION kbsync_rollups_on_truncate() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                TRUNCATE operation_rollups, requester_rollups, requester_waits, rollup_changes;
                UPDATE rollup_state SET sealed_until = '-infinity', claimed_until = '-infinity' WHERE id = 1;
                RETURN NULL;
            END
            $$;

            CREATE TRIGGER operations_rollups_insert AFTER INSERT ON operations
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kbsync_rollups_log_insert();
            CREATE TRIGGER operations_rollups_update AFTER UPDATE ON operations
                REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kbsync_rollups_log_update();
            CREATE TRIGGER operations_rollups_delete AFTER DELETE ON operations
                REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kbsync_rollups_log_delete();
            CREATE TRIGGER operations_rollups_truncate AFTER TRUNCATE ON operations
                FOR EACH STATEMENT EXECUTE FUNCTION kbsync_rollups_on_truncate();
            """;
    }
}

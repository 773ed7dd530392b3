-- :rows operations over the 90 days before :end, for the stats-api benchmark (`./dev bench stats-api
-- --rows 10000000`, bench/KbSync.Benchmarks/Scenarios/StatsApiScenario.cs), which replaces :rows and
-- :end (a timestamptz literal), runs this file statement by statement in a scratch database with the
-- rollup triggers disabled, then backfills the rollups (kbsync_rollups_backfill, as the AddRollups
-- migration does) and drops the database at the end.
--
-- Shape: 300 KBs with a heavy skew (floor(300 u^4): kb-000 has 24 % of the rows, kb-299 0.0003 %);
-- 2,000 requesters, skewed (floor(2000 u^3): user-0000 has 8 %); requests spread evenly over the 90
-- days in requested_at order, as workers write them, 2 % of them in 200 bursts of two minutes on one
-- KB each, whose queue waits are 40 times longer; queue wait lognormal (median 150 ms, sigma 1.6,
-- capped at 10 min), lock wait lognormal (median 5 ms, sigma 2.2; timed-out operations 1000 times
-- longer, capped at 5 min), step times lognormal; 93.5 % succeeded, 3 % duplicate (no commit, no
-- push), 2.7 % failed, 0.8 % timed out; requests of the last three minutes still queued or running.

SELECT setseed(0.16);
CREATE TEMP TABLE bursts AS
SELECT b, :end - interval '90 days' + random() * interval '90 days' AS at, floor(300 * power(random(), 4))::int AS kb
FROM generate_series(0, 199) b;

INSERT INTO operations (id, kb_id, kind, requested_by, status, requested_at, started_at, finished_at,
    queue_wait_ms, lock_wait_ms, pull_ms, process_ms, commit_ms, push_ms, worker_id, attempts, error_code)
SELECT gen_random_uuid(), 'kb-' || lpad(kb::text, 3, '0'), CASE WHEN u_kind < 0.95 THEN 'note' ELSE 'agent' END,
    'user-' || lpad(user_n::text, 4, '0'), status, requested_at,
    CASE WHEN status = 'queued' THEN NULL ELSE requested_at + queue_wait * interval '1 millisecond' END,
    CASE WHEN status IN ('queued', 'running') THEN NULL
         ELSE requested_at + (queue_wait + lock_wait + pull + process + commit_ + push) * interval '1 millisecond' END,
    CASE WHEN status = 'queued' THEN NULL ELSE queue_wait END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE lock_wait END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE pull END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE process END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE commit_ END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE push END,
    CASE WHEN status <> 'queued' THEN 'w' || (1 + g % 4) END, CASE WHEN status = 'queued' THEN 0 ELSE 1 END,
    CASE status WHEN 'failed' THEN 'remote_unreachable' WHEN 'timed_out' THEN 'timed_out' END
FROM (
    SELECT g, kb, user_n, u_kind, requested_at,
        CASE WHEN requested_at > :end - interval '3 minutes' THEN (CASE WHEN u_status < 0.5 THEN 'queued' ELSE 'running' END)
             WHEN u_status < 0.935 THEN 'succeeded' WHEN u_status < 0.965 THEN 'duplicate'
             WHEN u_status < 0.992 THEN 'failed' ELSE 'timed_out' END AS status,
        least(600000, 150 * exp(1.6 * z1) * CASE WHEN in_burst THEN 40 ELSE 1 END) AS queue_wait,
        least(300000, 5 * exp(2.2 * z2) * CASE WHEN u_status >= 0.992 THEN 1000 ELSE 1 END) AS lock_wait,
        120 * exp(0.8 * z3) AS pull,
        3 * exp(0.6 * z4) AS process,
        CASE WHEN u_status >= 0.935 AND u_status < 0.965 THEN 0 ELSE 8 * exp(0.7 * z5) END AS commit_,
        CASE WHEN u_status >= 0.935 AND u_status < 0.965 THEN 0 ELSE 350 * exp(0.9 * z6) END AS push
    FROM (
        SELECT g, u_kind, in_burst,
            CASE WHEN in_burst THEN bu.kb ELSE floor(300 * power(u_kb, 4))::int END AS kb,
            floor(2000 * power(u_user, 3))::int AS user_n,
            CASE WHEN in_burst THEN least(bu.at + u_h * interval '120 seconds', :end - interval '1 millisecond')
                 ELSE :end - interval '90 days' + (g - 1 + u_h) / :rows * interval '90 days' END AS requested_at,
            u_status,
            sqrt(-2 * ln(1 - r1)) * cos(2 * pi() * r2) AS z1, sqrt(-2 * ln(1 - r1)) * sin(2 * pi() * r2) AS z2,
            sqrt(-2 * ln(1 - r3)) * cos(2 * pi() * r4) AS z3, sqrt(-2 * ln(1 - r3)) * sin(2 * pi() * r4) AS z4,
            sqrt(-2 * ln(1 - r5)) * cos(2 * pi() * r6) AS z5, sqrt(-2 * ln(1 - r5)) * sin(2 * pi() * r6) AS z6
        FROM (
            SELECT g, random() AS u_kb, random() AS u_user, random() AS u_h,
                random() AS u_status, random() AS u_kind, random() < 0.02 AS in_burst, floor(random() * 200)::int AS burst,
                random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6
            FROM generate_series(1, :rows) g
        ) r
        LEFT JOIN bursts bu ON bu.b = r.burst
    ) t
) s;

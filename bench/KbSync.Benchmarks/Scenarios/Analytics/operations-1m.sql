-- 1,000,000 operations over 30 days (2026-11-01 to 2026-12-01) for measuring OperationAnalytics.
-- Run by the analytics-1m benchmark (`./dev bench analytics-1m`, bench/KbSync.Benchmarks/Scenarios/
-- AnalyticsScenario.cs), which creates a scratch database, migrates it, runs this file statement by
-- statement, times every query and drops the database. By hand, in a scratch database migrated like
-- any other:
--
--   createdb -h localhost -U kbsync kbsync_analytics_scratch
--   ConnectionStrings__KbSync="Host=localhost;Database=kbsync_analytics_scratch;Username=kbsync;Password=kbsync" ./dev kbsync db migrate
--   psql -h localhost -U kbsync -d kbsync_analytics_scratch -f bench/KbSync.Benchmarks/Scenarios/Analytics/operations-1m.sql
--
-- Shape: 50 KBs, skewed (kb-00 has 27 %, kb-49 0.6 %); about 200 requesters, skewed, a tenth of
-- the requests from two bots; 70 % of requests in working hours; 3 % in 20 bursts of two minutes on one KB each, whose
-- queue waits are 40 times longer; queue wait lognormal (median 150 ms, capped at 10 min), lock
-- wait lognormal (median 5 ms; timed-out operations 1000 times longer), step times lognormal; 93.5 %
-- succeeded, 3 % duplicate (no commit, no push), 2.7 % failed, 0.8 % timed out; requests of the last
-- three minutes still queued or running. Rows are clustered by requested_at, as a worker writes them.
-- Takes about 40 s. The indexes the queries want are listed at the top of
-- src/Persistence/Analytics/OperationAnalytics.cs.

SELECT setseed(0.42);
CREATE TEMP TABLE bursts AS
SELECT b, timestamptz '2026-11-01' + random() * interval '30 days' AS at, floor(50 * power(random(), 3))::int AS kb
FROM generate_series(0, 19) b;

INSERT INTO operations (id, kb_id, kind, requested_by, status, requested_at, started_at, finished_at,
    queue_wait_ms, lock_wait_ms, pull_ms, process_ms, commit_ms, push_ms, title, note_path, commit_sha,
    error_code, error_message, worker_id, attempts, pushed)
SELECT gen_random_uuid(), 'kb-' || lpad(kb::text, 2, '0'), CASE WHEN u_kind < 0.95 THEN 'note' ELSE 'agent' END,
    CASE WHEN u_user < 0.1 THEN 'bot-' || (user_n % 5) ELSE 'user' || lpad(user_n::text, 3, '0') END,
    status, requested_at,
    CASE WHEN status = 'queued' THEN NULL ELSE requested_at + queue_wait * interval '1 millisecond' END,
    CASE WHEN status IN ('queued', 'running') THEN NULL
         ELSE requested_at + (queue_wait + lock_wait + pull + process + commit_ + push) * interval '1 millisecond' END,
    CASE WHEN status = 'queued' THEN NULL ELSE queue_wait END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE lock_wait END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE pull END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE process END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE commit_ END,
    CASE WHEN status IN ('queued', 'running') THEN NULL ELSE push END,
    'Note number ' || g || ' about something worth keeping',
    CASE WHEN status = 'succeeded' THEN 'notes/2026/11/' || md5(g::text) || '.md' END,
    CASE WHEN status = 'succeeded' THEN md5(g::text) || substr(md5((g + 1)::text), 1, 8) END,
    CASE status WHEN 'failed' THEN (ARRAY['remote_unreachable','non_fast_forward','network_timeout','internal_error'])[1 + g % 4]
                WHEN 'timed_out' THEN 'timed_out' END,
    CASE status WHEN 'failed' THEN 'The remote could not be reached: connection refused' WHEN 'timed_out' THEN 'The operation passed its deadline' END,
    'w' || (1 + g % 4), CASE WHEN u_kind > 0.99 THEN 2 ELSE 1 END,
    CASE WHEN status = 'succeeded' THEN true END
FROM (
    SELECT g, kb, user_n, u_kind, u_user, requested_at,
        CASE WHEN requested_at > timestamptz '2026-12-01' - interval '3 minutes' THEN (CASE WHEN u_status < 0.5 THEN 'queued' ELSE 'running' END)
             WHEN u_status < 0.935 THEN 'succeeded' WHEN u_status < 0.965 THEN 'duplicate'
             WHEN u_status < 0.992 THEN 'failed' ELSE 'timed_out' END AS status,
        least(600000, 150 * exp(1.6 * z1) * CASE WHEN in_burst THEN 40 ELSE 1 END) AS queue_wait,
        least(300000, 5 * exp(2.2 * z2) * CASE WHEN u_status >= 0.992 THEN 1000 ELSE 1 END) AS lock_wait,
        120 * exp(0.8 * z3) AS pull,
        3 * exp(0.6 * z4) AS process,
        CASE WHEN u_status >= 0.935 THEN 0 ELSE 8 * exp(0.7 * z5) END AS commit_,
        CASE WHEN u_status >= 0.935 THEN 0 ELSE 350 * exp(0.9 * z6) END AS push
    FROM (
        SELECT g, u_kind, u_user, u_status, in_burst,
            CASE WHEN in_burst THEN bu.kb ELSE floor(50 * power(u_kb, 3))::int END AS kb,
            floor(200 * power(u_user, 2))::int AS user_n,
            CASE WHEN in_burst THEN bu.at + u_h * interval '120 seconds'
                 ELSE timestamptz '2026-11-01' + floor(30 * u_day) * interval '1 day'
                      + CASE WHEN u_mix < 0.7 THEN interval '8 hours' + u_h * interval '10 hours' ELSE u_h * interval '24 hours' END
            END AS requested_at,
            sqrt(-2 * ln(1 - r1)) * cos(2 * pi() * r2) AS z1, sqrt(-2 * ln(1 - r1)) * sin(2 * pi() * r2) AS z2,
            sqrt(-2 * ln(1 - r3)) * cos(2 * pi() * r4) AS z3, sqrt(-2 * ln(1 - r3)) * sin(2 * pi() * r4) AS z4,
            sqrt(-2 * ln(1 - r5)) * cos(2 * pi() * r6) AS z5, sqrt(-2 * ln(1 - r5)) * sin(2 * pi() * r6) AS z6
        FROM (
            SELECT g, random() AS u_kb, random() AS u_user, random() AS u_day, random() AS u_h, random() AS u_mix,
                random() AS u_status, random() AS u_kind, random() < 0.03 AS in_burst, floor(random() * 20)::int AS burst,
                random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6
            FROM generate_series(1, 1000000) g
        ) r
        LEFT JOIN bursts bu ON bu.b = r.burst
    ) t
) s;

CLUSTER operations USING ix_operations_requested_at;
VACUUM ANALYZE operations;

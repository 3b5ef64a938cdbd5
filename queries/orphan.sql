-- Runs orphaned between River's fetch and the segment's claim: a client
-- fetched the run's current job (River shows it running) and died before its
-- segment's first statement claimed the run, which stays queued with no
-- lease. No lease lapses for the sweeper to see, and River's rescuer only
-- retries the job after an hour. A live client claims its run within
-- milliseconds of the fetch, so a job running longer than @stale_after (the
-- lease TTL) over a queued run is orphaned; and if not, the takeover's gen
-- bump makes the late claim a harmless no-op.

-- name: RunListOrphaned :many
-- Read from River's side: running jobs are few (at most the workers of every
-- process) and River's fetch index leads with state, where queued runs may be
-- a backlog of thousands. The CASE keeps the uuid cast away from other kinds'
-- args ('flow_run' is riverjob.Kind, internal/riverjob).
SELECT r.id, r.gen, r.function_id, (r.ckey1 IS NOT NULL OR r.ckey2 IS NOT NULL)::boolean AS slotted
FROM river_job j
JOIN flow_run r ON r.id = CASE WHEN j.kind = 'flow_run' THEN (j.args->>'run_id')::uuid END
WHERE j.state = 'running'
    AND j.kind = 'flow_run'
    AND j.attempted_at < now() - @stale_after::interval
    AND r.job_id = j.id
    AND r.status = 'queued'
ORDER BY j.attempted_at
LIMIT @max;

-- name: RunLockOrphaned :one
SELECT r.id FROM flow_run r
JOIN river_job j ON j.id = r.job_id
WHERE r.id = @id AND r.gen = @gen AND r.status = 'queued'
    AND j.state = 'running'
    AND j.attempted_at < now() - @stale_after::interval
FOR UPDATE OF r SKIP LOCKED;

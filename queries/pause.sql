-- Pausing a function (Client.PauseFunction, ResumeFunction): see
-- internal/engine/pause.go for the protocol.

-- name: FunctionPause :one
-- Pauses a function: a row in flow_function_pause, which every claim of its
-- runs probes. known: the function is registered, or @defined (this client
-- defines it); nothing is written for an unknown one. paused: this call
-- paused it (false: it was paused already).
WITH fn AS (
    SELECT @id::text AS id
    WHERE @defined::boolean OR EXISTS (SELECT 1 FROM flow_function f WHERE f.id = @id::text)
),
ins AS (
    INSERT INTO flow_function_pause (function_id)
    SELECT fn.id FROM fn
    ON CONFLICT (function_id) DO NOTHING
    RETURNING function_id
)
SELECT EXISTS (SELECT 1 FROM fn) AS known, EXISTS (SELECT 1 FROM ins) AS paused;

-- name: FunctionResume :one
-- Resumes a function: deletes its pause row, which waits for the claims that
-- are holding its runs at this moment (RunHoldPaused locks the row FOR SHARE)
-- and makes any later one find the function unpaused. RunResumeHeld, in the
-- same transaction, then sees every run they held. known as in
-- FunctionPause; resumed: this call resumed it (false: it was not paused).
WITH del AS (
    DELETE FROM flow_function_pause WHERE function_id = @id::text
    RETURNING function_id
)
SELECT (@defined::boolean OR EXISTS (SELECT 1 FROM del)
        OR EXISTS (SELECT 1 FROM flow_function f WHERE f.id = @id::text))::boolean AS known,
    EXISTS (SELECT 1 FROM del) AS resumed;

-- name: FunctionPauseList :many
-- The paused functions, with when each was paused.
SELECT function_id, paused_at FROM flow_function_pause ORDER BY function_id;

-- name: FunctionPausedAt :one
-- When a function was paused; no row if it is not.
SELECT paused_at FROM flow_function_pause WHERE function_id = @id::text;

-- name: RunHoldPaused :one
-- Holds a run whose claim was refused because its function is paused: one
-- generation on, with the job @job_id (inserted by the caller in the same
-- transaction: pending, or scheduled at the run's timeout), its status kept
-- (a running run whose lease lapsed becomes queued), paused_at set, out of
-- the line for concurrency slots, and wake_at at its earliest timeout (the
-- finish deadline; for a run that never started, created_at + @start_timeout)
-- so that the waker cancels it on time. The pause row is locked FOR SHARE
-- until commit: a concurrent FunctionResume waits, and then finds the run
-- held. No row: the function is not paused (any more), or the job is stale.
WITH pause AS (
    SELECT p.function_id FROM flow_function_pause p
    WHERE p.function_id = @function_id::text
    FOR SHARE
),
run AS (
    UPDATE flow_run r
    SET status = CASE WHEN r.status = 'running' THEN 'queued' ELSE r.status END,
        gen = r.gen + 1,
        job_id = @job_id,
        paused_at = coalesce(r.paused_at, now()),
        wake_at = least(r.deadline_at,
            CASE WHEN r.started_at IS NULL AND @start_timeout::interval > interval '0'
                 THEN r.created_at + @start_timeout::interval END),
        slot_wait = NULL,
        lease_owner = NULL,
        lease_expires_at = NULL,
        updated_at = now()
    FROM pause
    WHERE r.id = @id AND r.gen = @gen AND r.function_id = pause.function_id
        AND (r.status IN ('queued', 'sleeping', 'waiting')
             OR (r.status = 'running' AND r.lease_expires_at < now()))
    RETURNING r.id, r.gen, r.wake_at, r.deadline_at, r.started_at, r.created_at, r.ckey1, r.ckey2, r.order_at
),
waiter AS (
    -- Out of the line for a slot: a held run must not keep the runs behind
    -- it waiting. Resumed, it claims (or parks) again in its place (order_at).
    DELETE FROM flow_slot_waiter w USING run
    WHERE w.key IN (run.ckey1, run.ckey2) AND w.order_at = run.order_at AND w.run_id = run.id
)
SELECT run.id, run.gen, run.wake_at, run.deadline_at,
    (run.started_at IS NULL)::boolean AS never_started,
    (now() - run.created_at)::interval AS queued_for,
    (run.ckey1 IS NOT NULL OR run.ckey2 IS NOT NULL)::boolean AS slotted
FROM run;

-- name: RunResumeHeld :one
-- Hands the runs a paused function held (RunHoldPaused) back to River, in
-- their order: each run's job becomes available at its order time (its
-- creation, moved earlier by a positive Priority), in the past, so that River
-- fetches the oldest first (priority, scheduled_at, id order); one
-- notification per queue. A run that needs a concurrency slot does not race
-- the others for it: it goes back in its key's line (flow_slot_waiter, by
-- order_at, as RunPark puts it), queued, its job due only at @recheck from
-- now; RunResumeSlotWake, next, wakes the head of each line (line_runs: a
-- run per key). Ended runs lose their mark too.
WITH held AS (
    SELECT r.id, r.status, r.job_id, r.ckey1, r.order_at,
        least(coalesce(r.order_at, r.created_at), now()) AS at,
        (r.ckey1 IS NOT NULL AND r.order_at IS NOT NULL AND r.status IN ('queued', 'sleeping', 'waiting')
         AND NOT EXISTS (SELECT 1 FROM flow_concurrency_slot h
                         WHERE h.key = r.ckey1 AND h.n = r.cslot1 AND h.run_id = r.id))::boolean AS in_line
    FROM flow_run r
    WHERE r.function_id = @function_id::text AND r.paused_at IS NOT NULL
    FOR UPDATE
),
marked AS (
    UPDATE flow_run r
    SET paused_at = NULL, wake_at = NULL, updated_at = now(),
        status = CASE WHEN held.in_line THEN 'queued' ELSE r.status END,
        slot_wait = CASE WHEN held.in_line THEN 1 ELSE r.slot_wait END
    FROM held WHERE r.id = held.id
),
line AS (
    INSERT INTO flow_slot_waiter (key, order_at, run_id)
    SELECT held.ckey1, held.order_at, held.id FROM held WHERE held.in_line
    ON CONFLICT DO NOTHING
),
open AS (
    SELECT held.id, held.job_id, held.in_line,
        CASE WHEN held.in_line THEN now() + @recheck::interval ELSE held.at END AS at
    FROM held
    WHERE held.status IN ('queued', 'sleeping', 'waiting') AND held.job_id IS NOT NULL
),
woken AS (
    SELECT CASE WHEN count(*) > 0 THEN flow_jobs_wake(array_agg(open.job_id ORDER BY open.at, open.id),
            array_agg(open.at ORDER BY open.at, open.id), '{pending,scheduled,available}'::river_job_state[])
        ELSE '{}'::text[] END AS queues
    FROM open
),
notified AS (
    SELECT flow_job_notify(q.queue)
    FROM (SELECT DISTINCT unnest(woken.queues) AS queue FROM woken) q
)
SELECT (SELECT count(*) FROM open)::integer AS resumed,
    (SELECT count(*) FROM notified)::integer AS queues,
    coalesce((SELECT array_agg(x.id) FROM (
        SELECT DISTINCT ON (held.ckey1) held.id FROM held WHERE held.in_line ORDER BY held.ckey1, held.id) x),
        '{}')::uuid[] AS line_runs;

-- name: RunResumeSlotWake :exec
-- Wakes the head of the concurrency-slot line of each run's keys, one run
-- per free slot (flow_slot_wake), after RunResumeHeld put held runs in line.
SELECT flow_slot_wake(id) FROM unnest(@run_ids::uuid[]) AS id;

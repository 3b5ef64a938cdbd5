-- name: RunShiftDueTimes :one
-- Skipping time in tests (flowtest.Advance, which alone reaches it): moves
-- every stored due time of the runs that have not ended, other than
-- executing ones, @by earlier: the run's wake time (a sleep's end, a wait's or
-- invoke's timeout, a retry, a delayed, debounced or batched start) and its
-- finish deadline, its steps' wake times, its waits' expiry (WaitForEvent
-- timeouts and CancelOn timeouts), and its continuation job's scheduled_at
-- (through flow_job_move, so River's scheduler agrees with the waker). A run
-- made due by the move is left for RunWakeDue.
WITH run AS (
    UPDATE flow_run r
    SET wake_at = r.wake_at - @by::interval,
        deadline_at = r.deadline_at - @by::interval,
        updated_at = now()
    WHERE r.status IN ('queued', 'sleeping', 'waiting')
        AND (r.wake_at IS NOT NULL OR r.deadline_at IS NOT NULL)
    RETURNING r.id, r.job_id, r.wake_at
),
step AS (
    UPDATE flow_step s
    SET wake_at = s.wake_at - @by::interval
    FROM flow_run r
    WHERE s.run_id = r.id
        AND r.status IN ('queued', 'sleeping', 'waiting')
        AND s.status IN ('sleeping', 'waiting', 'errored')
        AND s.wake_at IS NOT NULL
    RETURNING s.run_id
),
wait AS (
    UPDATE flow_wait w
    SET expires_at = w.expires_at - @by::interval
    FROM flow_run r
    WHERE w.run_id = r.id
        AND r.status IN ('queued', 'sleeping', 'waiting')
        AND w.expires_at IS NOT NULL
    RETURNING w.run_id
),
-- A SELECT CTE runs only when read: the final SELECT reads it.
job AS (
    SELECT count(*) FILTER (WHERE flow_job_move(run.job_id, run.wake_at)) AS moved
    FROM run
    WHERE run.job_id IS NOT NULL AND run.wake_at IS NOT NULL
)
SELECT
    (SELECT count(*) FROM run)::integer AS runs,
    (SELECT count(*) FROM step)::integer AS steps,
    (SELECT count(*) FROM wait)::integer AS waits,
    (SELECT job.moved FROM job)::integer AS jobs;

-- name: RunListBusy :many
-- Lists up to @max runs that execute or are ready to: running, or queued
-- with no wake time ahead, unless parked for a concurrency slot that no
-- slot of its key is free for (such a run waits for another run to end,
-- which skipping time may be what brings about). A parked run whose key has
-- a free slot is about to be let through (a run that ends frees its slots,
-- then wakes the parked runs after its commit): it counts as ready. A queued
-- run of a paused function is held until the resume, not ready.
SELECT r.id, r.function_id, r.status FROM flow_run r
WHERE r.status = 'running'
    OR (r.status = 'queued'
        AND coalesce(r.wake_at <= now(), true)
        AND NOT EXISTS (SELECT 1 FROM flow_function_pause p WHERE p.function_id = r.function_id)
        AND NOT EXISTS (
            SELECT 1 FROM flow_slot_waiter w
            WHERE w.run_id = r.id
                AND NOT EXISTS (
                    SELECT 1 FROM flow_concurrency_slot s
                    WHERE s.key = w.key AND s.run_id IS NULL
                        AND s.n < (CASE WHEN w.key = r.ckey1 THEN r.climit1 ELSE r.climit2 END))))
ORDER BY r.id
LIMIT @max;

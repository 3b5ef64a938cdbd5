-- name: StepListByRun :many
SELECT * FROM flow_step WHERE run_id = @run_id ORDER BY seq;

-- name: StepSaveFenced :execrows
-- Stores a step's outcome if the caller's segment still owns the run (and
-- renews its lease), in one statement. Zero rows: the segment lost the run and
-- nothing was stored.
WITH run AS (
    UPDATE flow_run
    SET lease_expires_at = now() + @lease_ttl::interval, updated_at = now()
    WHERE flow_run.id = @run_id AND gen = @gen AND status = 'running'
    RETURNING flow_run.id
)
INSERT INTO flow_step (run_id, id, seq, kind, status, attempts, output, error, wake_at, detail, started_at, ended_at)
SELECT run.id, @id, @seq, @kind, @status, @attempts, @output, sqlc.narg('error'),
    sqlc.narg('wake_at'), @detail, @started_at, sqlc.narg('ended_at')
FROM run
ON CONFLICT (run_id, id) DO UPDATE
SET status = excluded.status, attempts = excluded.attempts, output = excluded.output,
    error = excluded.error, wake_at = excluded.wake_at, detail = excluded.detail,
    ended_at = excluded.ended_at;

-- name: StepSave :exec
-- Stores a step's outcome inside a transaction that already holds the run
-- (RunFence).
INSERT INTO flow_step (run_id, id, seq, kind, status, attempts, output, error, wake_at, detail, started_at, ended_at)
VALUES (@run_id, @id, @seq, @kind, @status, @attempts, @output, sqlc.narg('error'),
    sqlc.narg('wake_at'), @detail, @started_at, sqlc.narg('ended_at'))
ON CONFLICT (run_id, id) DO UPDATE
SET status = excluded.status, attempts = excluded.attempts, output = excluded.output,
    error = excluded.error, wake_at = excluded.wake_at, detail = excluded.detail,
    ended_at = excluded.ended_at;

-- name: StepResolve :execrows
-- Gives a waiting step (a wait or an invoke) its outcome. The caller holds the
-- run's lock (RunLockOpen).
UPDATE flow_step
SET status = @status, output = @output, error = sqlc.narg('error'), ended_at = now()
WHERE run_id = @run_id AND id = @id AND status = 'waiting';

-- name: StepCountResolved :one
-- How many of a run's waiting steps (waits, invokes) were resolved by a
-- sender or a child run while a segment was executing the run.
SELECT count(*)::integer FROM flow_step
WHERE run_id = @run_id AND id = ANY(@ids::text[]) AND status <> 'waiting';

-- name: StepGet :one
SELECT * FROM flow_step WHERE run_id = @run_id AND id = @id;

-- name: StepListByRun :many
SELECT * FROM flow_step WHERE run_id = @run_id ORDER BY seq;

-- name: StepSaveFenced :one
-- Stores a step's outcome if the caller's segment still owns the run (and
-- renews its lease), in one statement. owned false: the segment lost the run
-- and nothing was stored. saved false (with owned): the step already has a
-- final row (completed, failed, timed_out), which is never replaced. paused:
-- the run's function is paused, so the segment stops at this step boundary.
WITH run AS (
    UPDATE flow_run
    SET lease_expires_at = clock_timestamp() + @lease_ttl::interval, updated_at = now()
    WHERE flow_run.id = @run_id AND gen = @gen AND status = 'running'
    RETURNING flow_run.id, flow_run.function_id
),
saved AS (
    INSERT INTO flow_step (run_id, id, seq, kind, status, attempts, output, error, wake_at, detail, started_at, ended_at)
    SELECT run.id, @id, @seq, @kind, @status, @attempts, @output, sqlc.narg('error'),
        sqlc.narg('wake_at'), @detail, @started_at, sqlc.narg('ended_at')
    FROM run
    ON CONFLICT (run_id, id) DO UPDATE
    SET status = excluded.status, attempts = excluded.attempts, output = excluded.output,
        error = excluded.error, wake_at = excluded.wake_at, detail = excluded.detail,
        ended_at = excluded.ended_at
    WHERE flow_step.status NOT IN ('completed', 'failed', 'timed_out')
    RETURNING flow_step.id
),
-- A failed attempt (errored: retried; failed: for good) is also kept in the
-- step's attempt history; a completed step writes nothing there.
attempt AS (
    INSERT INTO flow_step_attempt (run_id, step_id, attempt, started_at, ended_at, error)
    SELECT @run_id, saved.id, @attempts, @started_at, coalesce(sqlc.narg('ended_at'), clock_timestamp()), sqlc.narg('error')
    FROM saved
    WHERE @status::text IN ('errored', 'failed') AND sqlc.narg('error')::text IS NOT NULL
    ON CONFLICT (run_id, step_id, attempt) DO NOTHING
)
SELECT EXISTS (SELECT 1 FROM run) AS owned, EXISTS (SELECT 1 FROM saved) AS saved,
    EXISTS (SELECT 1 FROM run, flow_function_pause p WHERE p.function_id = run.function_id) AS paused;

-- name: StepSave :one
-- Stores a step's outcome inside a transaction that already holds the run
-- (RunFence), and a failed attempt in the step's attempt history (see
-- StepSaveFenced). Zero: the step already has a final row (completed,
-- failed, timed_out), which is never replaced.
WITH saved AS (
    INSERT INTO flow_step (run_id, id, seq, kind, status, attempts, output, error, wake_at, detail, started_at, ended_at)
    VALUES (@run_id, @id, @seq, @kind, @status, @attempts, @output, sqlc.narg('error'),
        sqlc.narg('wake_at'), @detail, @started_at, sqlc.narg('ended_at'))
    ON CONFLICT (run_id, id) DO UPDATE
    SET status = excluded.status, attempts = excluded.attempts, output = excluded.output,
        error = excluded.error, wake_at = excluded.wake_at, detail = excluded.detail,
        ended_at = excluded.ended_at
    WHERE flow_step.status NOT IN ('completed', 'failed', 'timed_out')
    RETURNING flow_step.id
),
attempt AS (
    INSERT INTO flow_step_attempt (run_id, step_id, attempt, started_at, ended_at, error)
    SELECT @run_id, saved.id, @attempts, @started_at, coalesce(sqlc.narg('ended_at'), clock_timestamp()), sqlc.narg('error')
    FROM saved
    WHERE @status::text IN ('errored', 'failed') AND sqlc.narg('error')::text IS NOT NULL
    ON CONFLICT (run_id, step_id, attempt) DO NOTHING
)
SELECT count(*)::integer FROM saved;

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

-- name: StepSaveCompletedMany :many
-- StepSaveFenced for many completed steps of different runs at once (group
-- commit across the runs a client executes): each step is stored if its
-- segment still owns its run. The runs are locked in ID order. Returns one
-- row per step: owned false, the segment lost its run; saved false (with
-- owned), the step already has a final row, which is never replaced; paused
-- (with owned), the run's function is paused: its segment stops there.
WITH input AS (
    SELECT
        unnest(@run_ids::uuid[]) AS run_id,
        unnest(@gens::integer[]) AS gen,
        unnest(@ids::text[]) AS id,
        unnest(@seqs::integer[]) AS seq,
        unnest(@kinds::text[]) AS kind,
        unnest(@attempts::integer[]) AS attempts,
        unnest(@outputs::jsonb[]) AS output,
        unnest(@started_ats::timestamptz[]) AS started_at,
        unnest(@ended_ats::timestamptz[]) AS ended_at
),
locked AS (
    SELECT r.id
    FROM flow_run r
    WHERE r.id IN (SELECT DISTINCT input.run_id FROM input)
    ORDER BY r.id
    FOR UPDATE
),
fenced AS (
    UPDATE flow_run r
    SET lease_expires_at = clock_timestamp() + @lease_ttl::interval, updated_at = now()
    FROM (SELECT DISTINCT input.run_id, input.gen FROM input) i, locked l
    WHERE r.id = i.run_id AND l.id = r.id AND r.gen = i.gen AND r.status = 'running'
    RETURNING r.id, r.gen,
        EXISTS (SELECT 1 FROM flow_function_pause p WHERE p.function_id = r.function_id) AS paused
),
saved AS (
    INSERT INTO flow_step (run_id, id, seq, kind, status, attempts, output, started_at, ended_at)
    SELECT input.run_id, input.id, input.seq, input.kind, 'completed', input.attempts, input.output, input.started_at, input.ended_at
    -- Only the steps of the run's current gen: a segment that lost its run
    -- (an older gen, in the same batch as the segment that took over) stores
    -- nothing.
    FROM input JOIN fenced ON fenced.id = input.run_id AND fenced.gen = input.gen
    ON CONFLICT (run_id, id) DO UPDATE
    SET status = excluded.status, attempts = excluded.attempts, output = excluded.output,
        error = NULL, wake_at = NULL, detail = NULL, ended_at = excluded.ended_at
    WHERE flow_step.status NOT IN ('completed', 'failed', 'timed_out')
    RETURNING flow_step.run_id, flow_step.id
)
SELECT input.run_id::uuid AS run_id, input.gen::integer AS gen, input.id::text AS id,
    (EXISTS (SELECT 1 FROM fenced WHERE fenced.id = input.run_id AND fenced.gen = input.gen))::boolean AS owned,
    (EXISTS (SELECT 1 FROM fenced WHERE fenced.id = input.run_id AND fenced.gen = input.gen)
     AND EXISTS (SELECT 1 FROM saved WHERE saved.run_id = input.run_id AND saved.id = input.id))::boolean AS saved,
    (EXISTS (SELECT 1 FROM fenced WHERE fenced.id = input.run_id AND fenced.gen = input.gen AND fenced.paused))::boolean AS paused
FROM input;

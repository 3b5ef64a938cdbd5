-- name: StepAttemptListByRun :many
-- The failed attempts of a run's steps, in order.
SELECT * FROM flow_step_attempt WHERE run_id = @run_id ORDER BY step_id, attempt;

-- name: RerunInsert :exec
-- Records where a rerun came from.
INSERT INTO flow_rerun (run_id, rerun_of, from_step) VALUES (@run_id, @rerun_of, @from_step);

-- name: RerunGet :one
SELECT * FROM flow_rerun WHERE run_id = @run_id;

-- name: EventEffectInsert :exec
-- Records that an event resumed a run's wait step or cancelled the run, in
-- the sender's transaction.
INSERT INTO flow_event_effect (event_id, run_id, step_id, effect)
VALUES (@event_id, @run_id, @step_id, @effect)
ON CONFLICT (event_id, run_id, step_id) DO NOTHING;

-- name: EventEffectListByRun :many
-- The events that resumed a run's waits (or cancelled it).
SELECT * FROM flow_event_effect WHERE run_id = @run_id ORDER BY at;

-- name: EventEffectListByEvent :many
-- The runs an event resumed or cancelled, oldest first, with their function.
SELECT f.event_id, f.run_id, f.step_id, f.effect, f.at, r.function_id, r.status
FROM flow_event_effect f JOIN flow_run r ON r.id = f.run_id
WHERE f.event_id = @event_id
ORDER BY f.at, f.run_id
LIMIT @max;

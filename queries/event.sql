-- name: EventDedupeClaim :one
-- Claims a sender's event ID for 24 hours and returns the ID of the event that
-- holds it: @event_id when the claim is new or the earlier one expired, the
-- earlier event's ID when this event is a duplicate. Concurrent senders of one
-- ID serialise on the row, so exactly one of them stores the event.
INSERT INTO flow_event_dedupe (dedupe_id, event_id, seen_at)
VALUES (@dedupe_id, @event_id, now())
ON CONFLICT (dedupe_id) DO UPDATE
SET event_id = CASE WHEN flow_event_dedupe.seen_at < now() - interval '24 hours'
                    THEN excluded.event_id ELSE flow_event_dedupe.event_id END,
    seen_at = CASE WHEN flow_event_dedupe.seen_at < now() - interval '24 hours'
                   THEN excluded.seen_at ELSE flow_event_dedupe.seen_at END
RETURNING event_id;

-- name: EventInsertAndStartRuns :one
-- Stores an event and creates a queued run for every function whose trigger
-- matches its name, in one statement. has_waits says whether any open wait
-- listens for this name, so that the common case skips wait matching.
WITH event AS (
    INSERT INTO flow_event (id, name, data, ts, dedupe_id)
    VALUES (@id, @name, @data, @ts, sqlc.narg('dedupe_id'))
    RETURNING id
),
matched AS (
    SELECT t.function_id, bool_or(t.expression = '') AS unconditional,
        array_agg(t.expression) FILTER (WHERE t.expression <> '') AS expressions,
        bool_or(t.controlled) AS controlled
    FROM flow_trigger t
    WHERE t.event_name = @name OR (t.is_prefix AND starts_with(@name, t.event_name))
    GROUP BY t.function_id
),
-- Each run and its first River job (flow_job_insert, in the RETURNING list
-- so that it runs for every row), inserted here rather than through River's
-- InsertManyTx to save the send two round trips: the same row River would
-- write, available now, or scheduled at @start_at, an event's future ts
-- (the waker then makes it runnable on time). One call per run, not one
-- flow_jobs_insert for all: most events start one run, and for one the
-- aggregate that an array call needs costs the send 7-10% (bench section 1).
-- An event that fans out to many functions pays a call per run instead.
-- @trace_parent, the sender's W3C traceparent (NULL for none), goes into
-- each job's args as RunArgs.TraceParent.
runs AS (
    INSERT INTO flow_run (id, function_id, event_id, job_id, wake_at)
    SELECT flow_uuid_v7(), m.function_id, @id, flow_job_next_id(), sqlc.narg('start_at')::timestamptz
    FROM matched m
    WHERE m.unconditional AND NOT m.controlled
    RETURNING id, function_id, job_id,
        flow_job_insert(job_id, flow_job_args(id, 0, function_id, false)
                || CASE WHEN sqlc.narg('trace_parent')::text IS NULL THEN '{}'::jsonb
                        ELSE jsonb_build_object('tp', sqlc.narg('trace_parent')::text) END, @queue::text,
            coalesce(sqlc.narg('start_at')::timestamptz, now()), sqlc.narg('start_at')::timestamptz IS NULL) AS job_state
),
-- River's producers learn of available jobs by this notification, which the
-- sender rate-limits (@notify) as River's own insert path does.
notified AS (
    SELECT flow_job_notify(@queue::text)
    WHERE @notify::boolean AND sqlc.narg('start_at')::timestamptz IS NULL AND EXISTS (SELECT 1 FROM runs)
),
-- Runs the sender starts itself: those of functions whose matching triggers
-- all have a condition (one row per condition) and those of functions with
-- flow control (an unconditional one has one row, with no condition), with
-- the flow-control configuration from the registry.
deferred AS (
    SELECT m.function_id, e AS expression, coalesce(f.config::text, '') AS config
    FROM matched m
    CROSS JOIN LATERAL unnest(CASE WHEN m.unconditional THEN ARRAY['']::text[] ELSE m.expressions END) AS e
    LEFT JOIN flow_function f ON m.controlled AND f.id = m.function_id
    WHERE m.controlled OR NOT m.unconditional
)
SELECT
    coalesce((SELECT array_agg(runs.id ORDER BY runs.function_id) FROM runs), '{}')::uuid[] AS run_ids,
    coalesce((SELECT array_agg(runs.function_id ORDER BY runs.function_id) FROM runs), '{}')::text[] AS function_ids,
    coalesce((SELECT array_agg(d.function_id ORDER BY d.function_id, d.expression) FROM deferred d), '{}')::text[] AS deferred_function_ids,
    coalesce((SELECT array_agg(d.expression ORDER BY d.function_id, d.expression) FROM deferred d), '{}')::text[] AS deferred_expressions,
    coalesce((SELECT array_agg(d.config ORDER BY d.function_id, d.expression) FROM deferred d), '{}')::text[] AS deferred_configs,
    EXISTS (SELECT 1 FROM flow_wait_path p WHERE p.event_name = @name) AS has_waits,
    (SELECT count(*) FROM notified)::integer AS notified;

-- name: EventUndoInsert :exec
-- Undoes, in the sender's transaction, what EventDedupeClaim and
-- EventInsertAndStartRuns wrote for an event whose send then failed before
-- any other write (SendTx of one event, see sendEvent): its runs, their first
-- River jobs, the event and its dedupe claim. The jobs were inserted by this
-- same uncommitted transaction, so no River component has seen them.
WITH runs AS (
    DELETE FROM flow_run WHERE flow_run.event_id = @event_id::uuid
    RETURNING job_id, flow_job_delete(ARRAY[job_id]) AS jobs_deleted
),
dedupe AS (
    DELETE FROM flow_event_dedupe WHERE flow_event_dedupe.dedupe_id = sqlc.narg('dedupe_id') AND flow_event_dedupe.event_id = @event_id::uuid
)
DELETE FROM flow_event WHERE flow_event.id = @event_id::uuid;

-- name: EventInsert :exec
-- Stores an event that starts no run by trigger (the input of an invoked run).
INSERT INTO flow_event (id, name, data, ts) VALUES (@id, @name, @data, @ts);

-- name: EventGet :one
SELECT * FROM flow_event WHERE id = @id;


-- name: EventRunIDs :many
-- The runs of an event: those it triggered (flow_run.event_id) and the batch
-- runs it joined (flow_run_event), for SendWithRuns of a duplicate event,
-- which reports the runs of the event stored first. A debounced run that a
-- later event took over is that event's.
SELECT id FROM flow_run WHERE flow_run.event_id = @event_id::uuid
UNION
SELECT run_id FROM flow_run_event WHERE flow_run_event.event_id = @event_id::uuid
ORDER BY 1;

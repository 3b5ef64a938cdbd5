-- Bulk actions (CancelRuns, RerunRuns) and Replay: selections walked in ID
-- order, a batch of rows at a time, each batch handled in a transaction of
-- its own so that thousands of runs never sit under one lock.

-- name: RunNewestID :one
-- The newest run's ID (the nil UUID when there is none): a bulk action
-- handles only runs up to it, so that the runs it creates itself (reruns,
-- with newer, time-ordered IDs) are never selected by the same action.
SELECT coalesce((SELECT id FROM flow_run ORDER BY id DESC LIMIT 1), '00000000-0000-0000-0000-000000000000')::uuid AS id;

-- name: RunBulkCount :one
-- How many runs RunBulkSelect selects in all (before any is handled), for
-- the progress of a bulk action and the command line's confirmation.
SELECT count(*)::integer AS n
FROM flow_run r
WHERE (sqlc.narg('function_id')::text IS NULL OR r.function_id = sqlc.narg('function_id'))
    AND (cardinality(@statuses::text[]) = 0 OR r.status = ANY(@statuses::text[]))
    AND (NOT @unended_only::boolean OR r.status NOT IN ('completed', 'failed', 'cancelled', 'skipped'))
    AND (sqlc.narg('created_after')::timestamptz IS NULL OR r.created_at >= sqlc.narg('created_after'))
    AND (sqlc.narg('created_before')::timestamptz IS NULL OR r.created_at < sqlc.narg('created_before'))
    AND (cardinality(@ids::uuid[]) = 0 OR r.id = ANY(@ids::uuid[]))
    AND (sqlc.narg('event_name')::text IS NULL
        OR EXISTS (SELECT 1 FROM flow_event e WHERE e.id = r.event_id AND e.name = sqlc.narg('event_name')))
    AND (sqlc.narg('event_id')::uuid IS NULL OR r.event_id = sqlc.narg('event_id'))
    AND r.id <= @upto_id;

-- name: RunBulkSelect :many
-- The next batch of runs a bulk action selects, oldest first, after
-- @after_id (keyset) and up to @upto_id (RunNewestID when the action began).
-- invoked: the run is an Invoke step's child (a rerun starts from its
-- parent). rerun: a newer run of the same function on the same event exists
-- (a rerun or a replay), which is how repeating RerunRuns reruns nothing
-- twice.
SELECT r.id, r.function_id, r.event_id,
    (r.parent_run_id IS NOT NULL)::boolean AS invoked,
    EXISTS (SELECT 1 FROM flow_run n WHERE n.function_id = r.function_id AND n.event_id = r.event_id AND n.id > r.id)::boolean AS rerun
FROM flow_run r
WHERE (sqlc.narg('function_id')::text IS NULL OR r.function_id = sqlc.narg('function_id'))
    AND (cardinality(@statuses::text[]) = 0 OR r.status = ANY(@statuses::text[]))
    AND (NOT @unended_only::boolean OR r.status NOT IN ('completed', 'failed', 'cancelled', 'skipped'))
    AND (sqlc.narg('created_after')::timestamptz IS NULL OR r.created_at >= sqlc.narg('created_after'))
    AND (sqlc.narg('created_before')::timestamptz IS NULL OR r.created_at < sqlc.narg('created_before'))
    AND (cardinality(@ids::uuid[]) = 0 OR r.id = ANY(@ids::uuid[]))
    AND (sqlc.narg('event_name')::text IS NULL
        OR EXISTS (SELECT 1 FROM flow_event e WHERE e.id = r.event_id AND e.name = sqlc.narg('event_name')))
    AND (sqlc.narg('event_id')::uuid IS NULL OR r.event_id = sqlc.narg('event_id'))
    AND r.id > @after_id AND r.id <= @upto_id
ORDER BY r.id
LIMIT @max;

-- name: EventReplayCount :one
-- How many stored events received in [@received_after, @received_before)
-- match a trigger of @function_id by name (the trigger's If is evaluated
-- later, in Go), leaving out those that already started a run of it unless
-- @include_started.
SELECT count(*)::integer AS n
FROM flow_event e
WHERE e.received_at >= @received_after AND e.received_at < @received_before
    AND EXISTS (SELECT 1 FROM flow_trigger t WHERE t.function_id = @function_id
        AND (e.name = t.event_name OR (t.is_prefix AND starts_with(e.name, t.event_name))))
    AND (@include_started::boolean
        OR (NOT EXISTS (SELECT 1 FROM flow_run r WHERE r.event_id = e.id AND r.function_id = @function_id)
            AND NOT EXISTS (SELECT 1 FROM flow_run_event re JOIN flow_run r ON r.id = re.run_id
                WHERE re.event_id = e.id AND r.function_id = @function_id)));

-- name: EventReplaySelect :many
-- The next batch of events Replay starts @function_id for, oldest first,
-- after @after_id: those EventReplayCount counts, each with the conditions
-- of the triggers it matches ('' for one without) and, for a function with
-- flow control, its registry config (as EventInsertAndStartRuns's deferred
-- runs carry them). A run started by a batch counts as started
-- (flow_run_event), as does a run flow control recorded as skipped.
SELECT e.id, e.name, e.data, e.ts, e.dedupe_id,
    array_agg(t.expression ORDER BY t.expression)::text[] AS expressions,
    (CASE WHEN bool_or(t.controlled) THEN coalesce((SELECT f.config::text FROM flow_function f WHERE f.id = @function_id), '') ELSE '' END)::text AS config
FROM flow_event e
JOIN flow_trigger t ON t.function_id = @function_id
    AND (e.name = t.event_name OR (t.is_prefix AND starts_with(e.name, t.event_name)))
WHERE e.received_at >= @received_after AND e.received_at < @received_before
    AND e.id > @after_id
    AND (@include_started::boolean
        OR (NOT EXISTS (SELECT 1 FROM flow_run r WHERE r.event_id = e.id AND r.function_id = @function_id)
            AND NOT EXISTS (SELECT 1 FROM flow_run_event re JOIN flow_run r ON r.id = re.run_id
                WHERE re.event_id = e.id AND r.function_id = @function_id)))
GROUP BY e.id
ORDER BY e.id
LIMIT @max;

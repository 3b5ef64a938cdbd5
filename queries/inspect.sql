-- name: InspectRunCount :many
-- (Inspect queries only read: they serve the dashboard and the command line.)
-- How many runs there are per function and status, under the same filters as
-- RunList (statuses and paging aside).
SELECT r.function_id, r.status, count(*)::bigint AS n
FROM flow_run r
WHERE (sqlc.narg('function_id')::text IS NULL OR r.function_id = sqlc.narg('function_id'))
    AND (sqlc.narg('event_id')::uuid IS NULL OR r.event_id = sqlc.narg('event_id'))
    AND (sqlc.narg('created_after')::timestamptz IS NULL OR r.created_at >= sqlc.narg('created_after'))
    AND (sqlc.narg('min_id')::uuid IS NULL OR r.id >= sqlc.narg('min_id'))
    AND (sqlc.narg('created_before')::timestamptz IS NULL OR r.created_at < sqlc.narg('created_before'))
GROUP BY r.function_id, r.status
ORDER BY r.function_id, r.status;

-- name: InspectRunListByEvents :many
-- The runs that events started (reruns included), oldest first, without
-- their output.
SELECT r.id, r.function_id, r.event_id, r.status, r.attempt, r.wake_at, r.parent_run_id, r.error,
    r.created_at, r.started_at, r.ended_at
FROM flow_run r
WHERE r.event_id = ANY(@event_ids::uuid[])
ORDER BY r.id
LIMIT @max;

-- name: InspectEventList :many
-- A page of events, newest first. The data comes only when its JSON text is
-- at most @max_data bytes (a list shows a preview); data_size is always set.
SELECT e.id, e.name, e.ts, e.dedupe_id, e.received_at,
    octet_length(e.data::text)::integer AS data_size,
    (CASE WHEN octet_length(e.data::text) <= @max_data::integer THEN e.data END)::jsonb AS data
FROM flow_event e
WHERE (@name::text = '' OR e.name = @name::text)
    AND (@prefix::text = '' OR starts_with(e.name, @prefix::text))
    AND NOT (e.name = ANY(@exclude_names::text[]))
    AND (sqlc.narg('before_id')::uuid IS NULL OR e.id < sqlc.narg('before_id'))
ORDER BY e.id DESC
LIMIT @max;

-- name: InspectTriggerList :many
SELECT * FROM flow_trigger ORDER BY function_id, event_name, is_prefix;

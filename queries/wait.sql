-- name: WaitInsert :exec
-- Registers a WaitForEvent step's wait (kind 'wait', alt >= 0) or a CancelOn
-- condition (kind 'cancel', step_id "cancel:<n>", alt -1, which no wait
-- uses: a wait on step "cancel:0" is another row), and its match path for
-- the event name.
WITH path AS (
    INSERT INTO flow_wait_path (event_name, match_path)
    VALUES (@event_name, @match_path)
    ON CONFLICT DO NOTHING
)
INSERT INTO flow_wait (run_id, step_id, alt, kind, event_name, match_path, match_value, expression, expires_at)
VALUES (@run_id, @step_id, @alt, @kind, @event_name, @match_path, @match_value, @expression, sqlc.narg('expires_at'))
ON CONFLICT (run_id, step_id, alt) DO NOTHING;

-- name: WaitMatch :many
-- The open waits a sent event satisfies: waits on its name with no match, and
-- for each match path in use, waits whose value equals the event's value at
-- that path (a missing field is JSON null). One index probe per path.
-- Waits with an expression come with their run's triggering event, for the
-- sender to evaluate it. Expired waits (their timeout is being handled) do
-- not match.
SELECT m.run_id, m.step_id, m.alt, m.kind, m.expression,
    CASE WHEN m.expression <> '' THEN (
        SELECT jsonb_build_object('id', e.id, 'name', e.name, 'data', e.data, 'ts', e.ts)
        FROM flow_run r JOIN flow_event e ON e.id = r.event_id WHERE r.id = m.run_id
    ) END::jsonb AS trigger_event
FROM (
    SELECT w.run_id, w.step_id, w.alt, w.kind, w.expression, w.expires_at
    FROM flow_wait w
    WHERE w.event_name = @event_name AND w.match_path = ''
    UNION ALL
    SELECT w.run_id, w.step_id, w.alt, w.kind, w.expression, w.expires_at
    FROM flow_wait_path p
    JOIN flow_wait w
        ON w.event_name = p.event_name
        AND w.match_path = p.match_path
        AND w.match_value = coalesce(@event::jsonb #> string_to_array(p.match_path, '.'), 'null'::jsonb)
    WHERE p.event_name = @event_name AND p.match_path <> ''
) m
WHERE m.expires_at IS NULL OR m.expires_at > now()
ORDER BY m.run_id, m.step_id, m.alt;

-- name: WaitDelete :execrows
-- Consumes a WaitForEvent step's wait (all its alternatives), never a
-- CancelOn condition stored under the same step ID.
DELETE FROM flow_wait WHERE run_id = @run_id AND step_id = @step_id AND kind = 'wait';

-- name: WaitCancelRekey :exec
-- Moves a CancelOn condition that earlier versions stored under alt 0 (a
-- wait's first alternative) to alt -1, so that a wait on the same step ID
-- can be registered beside it.
UPDATE flow_wait SET alt = -1
WHERE run_id = @run_id AND step_id = @step_id AND kind = 'cancel' AND alt >= 0;

-- name: EventListForWait :many
-- Events named @name received since @since (a wait's lookback window, or a
-- run's start for its CancelOn conditions), oldest first, whose value at
-- @match_path equals @match_value (any, when @match_path is '').
SELECT e.id, e.name, e.data, e.ts, e.dedupe_id, e.received_at
FROM flow_event e
WHERE e.name = @name
    AND e.received_at >= @since
    AND e.id <> @exclude_id
    AND (@match_path::text = ''
         OR coalesce(jsonb_build_object('id', e.id, 'name', e.name, 'data', e.data) #> string_to_array(@match_path::text, '.'), 'null'::jsonb) = @match_value::jsonb)
ORDER BY e.received_at, e.id
LIMIT @max;

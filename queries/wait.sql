-- name: WaitInsert :exec
-- Registers a WaitForEvent step's wait, and its match path for the event name.
WITH path AS (
    INSERT INTO flow_wait_path (event_name, match_path)
    VALUES (@event_name, @match_path)
    ON CONFLICT DO NOTHING
)
INSERT INTO flow_wait (run_id, step_id, event_name, match_path, match_value, expires_at)
VALUES (@run_id, @step_id, @event_name, @match_path, @match_value, @expires_at)
ON CONFLICT (run_id, step_id) DO NOTHING;

-- name: WaitMatch :many
-- The open waits a sent event satisfies: waits on its name with no match, and
-- for each match path in use, waits whose value equals the event's value at
-- that path (a missing field is JSON null). One index probe per path.
SELECT w.run_id, w.step_id
FROM flow_wait w
WHERE w.event_name = @event_name AND w.match_path = ''
UNION ALL
SELECT w.run_id, w.step_id
FROM flow_wait_path p
JOIN flow_wait w
    ON w.event_name = p.event_name
    AND w.match_path = p.match_path
    AND w.match_value = coalesce(@event::jsonb #> string_to_array(p.match_path, '.'), 'null'::jsonb)
WHERE p.event_name = @event_name AND p.match_path <> ''
ORDER BY 1, 2;

-- name: WaitDelete :execrows
DELETE FROM flow_wait WHERE run_id = @run_id AND step_id = @step_id;

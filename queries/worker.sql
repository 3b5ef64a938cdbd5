-- name: FunctionHeartbeat :exec
-- A started client confirms that it still defines these functions, so that
-- flow_function.updated_at is when a process defining a function was last
-- alive (the dashboard's "no worker" rule). Rows another client is touching
-- at the same moment are skipped: they are being confirmed anyway, and no
-- two heartbeats ever wait for each other.
UPDATE flow_function f SET updated_at = now()
FROM (
    SELECT id FROM flow_function
    WHERE id = ANY(@ids::text[])
    ORDER BY id
    FOR NO KEY UPDATE SKIP LOCKED
) AS live
WHERE f.id = live.id;

-- name: RunCountAwaitingWorker :many
-- The runs of each function that a worker should pick up now: queued (new,
-- woken, or parked for a concurrency slot), or suspended past their wake
-- time. Both come from indexes (status, wake_at).
SELECT function_id, count(*)::integer AS n
FROM flow_run
WHERE status = 'queued'
   OR (status IN ('sleeping', 'waiting') AND wake_at <= now())
GROUP BY function_id
ORDER BY function_id;

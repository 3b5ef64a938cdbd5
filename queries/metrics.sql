-- name: MetricsRunBacklog :many
-- The runs that have not ended, grouped by function and state, for the
-- backlog gauges: one statement per collection of the metrics, not one per
-- run. It reads the runs through flow_run_status_idx (status), so its cost
-- grows with the runs in flight, not with the ended runs kept for
-- retention. A queued run parked for a concurrency slot (slot_wait set) is
-- its own state, parked. due counts the runs whose wake time has passed
-- but that no waker has made runnable yet (a sleep, a wait's timeout, a
-- delayed start or a retry's backoff); late, those more than @late past it.
SELECT function_id,
    (CASE WHEN status = 'queued' AND slot_wait IS NOT NULL THEN 'parked' ELSE status END)::text AS state,
    count(*)::bigint AS runs,
    count(*) FILTER (WHERE wake_at <= now())::bigint AS due,
    count(*) FILTER (WHERE wake_at <= now() - @late::interval)::bigint AS late
FROM flow_run
WHERE status IN ('queued', 'running', 'sleeping', 'waiting')
GROUP BY 1, 2
ORDER BY 1, 2;

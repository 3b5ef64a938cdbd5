-- Restores version 3's flow_slot_wake, and drops the functions that own
-- River's job table.

-- flow_slot_wake makes runnable the oldest runs waiting for a slot of run
-- p_run's concurrency keys (parked: slot_wait set), as many as the key has
-- free slots, and wakes River's producers. A run that frees a slot calls it
-- after its change committed, and so does a run that parked: of the two, at
-- least one sees both the free slot and the parked run.
CREATE OR REPLACE FUNCTION flow_slot_wake(p_run uuid)
RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r record;
    woken integer;
    q text;
BEGIN
    SELECT f.ckey1, f.climit1, f.ckey2, f.climit2 INTO r FROM flow_run f WHERE f.id = p_run;
    IF NOT FOUND OR r.ckey1 IS NULL THEN
        RETURN 0;
    END IF;
    -- The common case, with no run waiting, in one probe per key.
    IF NOT EXISTS (SELECT 1 FROM flow_slot_waiter w WHERE w.key IN (r.ckey1, r.ckey2)) THEN
        RETURN 0;
    END IF;
    WITH keys AS (
        SELECT 1 AS slot, r.ckey1 AS key, r.climit1 AS lim
        UNION ALL
        SELECT 2, r.ckey2, r.climit2 WHERE r.ckey2 IS NOT NULL
    ),
    free AS (
        SELECT k.slot, k.key, (SELECT count(*) FROM flow_concurrency_slot s
                               WHERE s.key = k.key AND s.n < k.lim AND s.run_id IS NULL) AS n
        FROM keys k
    ),
    next AS (
        SELECT o.job_id, o.order_at FROM free f, LATERAL (
            SELECT w.run_id FROM flow_slot_waiter w WHERE w.key = f.key ORDER BY w.order_at, w.run_id LIMIT f.n
        ) w
        JOIN flow_run o ON o.id = w.run_id
    ),
    -- A woken run's job keeps its place in River's queue (scheduled_at order):
    -- that of its run, not the back of the queue. River's scheduler may
    -- have made the job available already, ahead of its recheck time
    -- (keeping that later scheduled_at, which River's fetch waits for): it
    -- is woken all the same.
    job AS (
        UPDATE river_job SET state = 'available', scheduled_at = least(next.order_at, now())
        FROM next
        WHERE river_job.id = next.job_id AND river_job.state IN ('scheduled', 'available')
        RETURNING river_job.queue
    )
    SELECT count(*), min(job.queue) INTO woken, q FROM job;
    IF woken > 0 THEN
        PERFORM pg_notify(current_schema() || '.river_insert', json_build_object('queue', q)::text);
    END IF;
    RETURN woken;
END
$$;

DROP FUNCTION IF EXISTS flow_job_delete(bigint[]);
DROP FUNCTION IF EXISTS flow_job_move(bigint, timestamptz);
DROP FUNCTION IF EXISTS flow_job_wake(bigint, timestamptz, river_job_state[]);
DROP FUNCTION IF EXISTS flow_job_insert(bigint, jsonb, text, timestamptz, boolean);
DROP FUNCTION IF EXISTS flow_jobs_wake(bigint[], timestamptz[], river_job_state[]);
DROP FUNCTION IF EXISTS flow_jobs_insert(bigint[], jsonb[], text, timestamptz, boolean);
DROP FUNCTION IF EXISTS flow_job_notify(text);
DROP FUNCTION IF EXISTS flow_job_args(uuid, integer, text, boolean);
DROP FUNCTION IF EXISTS flow_job_next_id();
